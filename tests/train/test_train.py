"""Training end to end: the command, checkpoint contents, metrics.json, evaluation, exact resume."""
import json
import os
import warnings

import pytest
import timm
import torch

from lightops.checkpoint import CHECKPOINT_KEYS, load_model, read_checkpoint
from lightops.cli.eval import main as eval_main
from lightops.cli.train import main as train_main
from lightops.data import TAU_CLASSES
from lightops.fileio import atomic_save, atomic_write
from lightops.train import TrainConfig, train
from tests.train.common import TINY, TINY_ARGS, assert_resumes_exactly


def _no_temp_files(folder):
    return not [n for n in os.listdir(folder) if n.startswith(".")]


def test_cli_train_then_eval(tmp_path):
    out = tmp_path / "run"
    assert train_main(TINY_ARGS + ["--data", "synthetic", "--epochs", "1", "--out", str(out)]) == 0
    assert {"last.pt", "metrics.json", "curves.png", "confusion.png"} <= set(os.listdir(out))
    assert _no_temp_files(out)
    for png in ("curves.png", "confusion.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    ckpt = read_checkpoint(out / "last.pt")
    assert set(ckpt) == set(CHECKPOINT_KEYS)  # the format's table is what a run writes, no more, no less
    assert ckpt["clip_seconds"] == TINY["clip_seconds"] and load_model(ckpt).clip_samples() == 8000
    assert ckpt["model"] == "dssdn_small" and ckpt["model_kwargs"] == {"width": 0.25, "num_classes": 10}
    assert ckpt["epoch"] == 1 and ckpt["args"]["epochs"] == 1 and ckpt["classes"] == list(TAU_CLASSES)
    assert {"torch", "numpy", "python", "data_order"} <= set(ckpt["rng"])
    assert ckpt["frontend"]["n_mels"] == 64 and ckpt["frontend"]["std"] > 0
    net = timm.create_model(ckpt["model"], **ckpt["model_kwargs"])  # what a deployment does
    net.load_state_dict(ckpt["state_dict"])

    m = json.loads((out / "metrics.json").read_text())
    assert m["complete"] and m["epochs"] == 1 and m["classes"] == list(TAU_CLASSES)
    assert 0.0 <= m["accuracy"] <= 1.0 and m["log_loss"] > 0 and 0.0 <= m["macro_accuracy"] <= 1.0
    assert len(m["confusion_matrix"]) == 10 and sum(map(sum, m["confusion_matrix"])) == 20
    assert set(m["per_device"]) == {"a", "b"} and all(d["seen"] for d in m["per_device"].values())
    assert m["seen"]["devices"] == ["a", "b"] and m["unseen"]["devices"] == [] and m["unseen"]["accuracy"] is None
    assert len(m["train_seconds_per_epoch"]) == 1 and m["train_seconds_per_epoch"][0] > 0
    assert m["history"][0]["eval_accuracy"] == m["accuracy"]
    assert m["params"] == sum(p.numel() for p in net.parameters()) and m["macs"] > 0

    assert eval_main([str(out / "last.pt"), "--data", "synthetic", "--quiet"]) == 0
    e = json.loads((out / "eval" / "metrics.json").read_text())
    assert e["accuracy"] == m["accuracy"] and e["log_loss"] == pytest.approx(m["log_loss"], rel=1e-6)
    assert e["confusion_matrix"] == m["confusion_matrix"]


def test_fake_tau_seen_and_unseen_devices(fake_tau, tmp_path):
    kw = {k: v for k, v in TINY.items() if k not in ("num_clips", "num_eval_clips")}
    m = train(TrainConfig(data=fake_tau, out=str(tmp_path / "run"), epochs=1, **kw))
    assert m["data"]["train_clips"] == 30 and m["data"]["eval_clips"] == 40
    assert m["seen"]["devices"] == ["a", "b", "s1"] and m["unseen"]["devices"] == ["s4"]
    assert [m["per_device"][d]["seen"] for d in ("a", "b", "s1", "s4")] == [True, True, True, False]
    assert m["seen"]["num_clips"] == 30 and m["unseen"]["num_clips"] == 10
    assert m["unseen"]["accuracy"] == m["per_device"]["s4"]["accuracy"]


def test_another_scene_set_trains_evaluates_and_predicts(fake_tau, tmp_path):
    """A TAU-layout folder of other scenes (the 3Class grouping): a 3-class model, evaluated and predicted by name."""
    import csv
    import shutil

    from lightops.cli import main
    from tests.utils import relabel_scenes

    root = str(shutil.copytree(fake_tau, tmp_path / "three"))
    relabel_scenes(root)
    out = tmp_path / "run"
    args = [a for a in TINY_ARGS if a not in ("--num-clips", "40", "--num-eval-clips", "20")]
    assert train_main(args + ["--data", root, "--epochs", "1", "--out", str(out)]) == 0
    three = ["indoor", "outdoor", "transportation"]
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt["classes"] == three and ckpt["model_kwargs"]["num_classes"] == 3
    assert len(json.loads((out / "metrics.json").read_text())["confusion_matrix"]) == 3
    assert main(["eval", str(out / "last.pt"), "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["classes"] == three
    assert main(["predict", str(out / "last.pt"), f"{root}/audio", "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["filename", "scene_label"] + three and len(rows) == 71
    assert {r[1] for r in rows[1:]} <= set(three)


def test_resume_is_bit_identical(tmp_path):
    # Soft OSC (orthonormal penalty), dropout (global RNG), mixup and SpecAugment (their own generators): all of
    # them must continue exactly.
    kw = dict(TINY, model="dssdn_middle", model_kwargs={"width": 0.25, "drop_rate": 0.2}, epochs=2, warmup_epochs=1)
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    part = train(TrainConfig(out=str(tmp_path / "part"), stop_after=1, **kw))
    assert not part["complete"] and part["epochs_done"] == 1
    assert (tmp_path / "part" / "last.pt").exists() and not (tmp_path / "part" / "metrics.json").exists()
    resumed = train(TrainConfig(out=str(tmp_path / "part"), resume=True, **kw))
    a, b = read_checkpoint(tmp_path / "full" / "last.pt"), read_checkpoint(tmp_path / "part" / "last.pt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    assert resumed["accuracy"] == full["accuracy"] and resumed["log_loss"] == full["log_loss"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]

    with pytest.raises(FileExistsError, match="--resume"):
        train(TrainConfig(out=str(tmp_path / "full"), **kw))
    with pytest.raises(ValueError, match="lr"):
        train(TrainConfig(out=str(tmp_path / "full"), resume=True, **dict(kw, lr=1e-4)))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(TrainConfig(out=str(tmp_path / "none"), resume=True, **kw))


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"epoch": 1}, path)
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write(b"half a checkpoint")
            raise RuntimeError("crash while writing")
    assert torch.load(path)["epoch"] == 1 and _no_temp_files(tmp_path)


def test_save_checkpoint_refuses_keys_outside_the_format(tmp_path):
    from lightops.checkpoint import save_checkpoint

    with pytest.raises(ValueError, match=r"keys \['weights'\] are not in the checkpoint format"):
        save_checkpoint(dict(model="dssdn_small", state_dict={}, weights={}), tmp_path / "x.pt")
    with pytest.raises(ValueError, match="lacks keys"):
        save_checkpoint(dict(model="dssdn_small"), tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_model_ema_is_the_model_saved_and_evaluated_and_resumes_exactly(tmp_path):
    from lightops.checkpoint import EMA_KEYS
    from lightops.train import evaluate_checkpoint

    kw = dict(TINY, epochs=2, model_ema=0.9)
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))
    ckpt = read_checkpoint(tmp_path / "full" / "last.pt")
    assert set(ckpt) == set(CHECKPOINT_KEYS) | set(EMA_KEYS)
    floats = [k for k, v in ckpt["state_dict"].items() if v.is_floating_point()]
    assert any(not torch.equal(ckpt["state_dict"][k], ckpt["train_state_dict"][k]) for k in floats)
    # the run's figures are the saved model's: the average is what was evaluated
    again = evaluate_checkpoint(str(tmp_path / "full" / "last.pt"), "synthetic", str(tmp_path / "eval"))
    assert again["accuracy"] == full["accuracy"] and again["log_loss"] == pytest.approx(full["log_loss"], rel=1e-5)
    # an interrupted run continues both the trained weights and their average exactly
    resumed = assert_resumes_exactly(tmp_path / "part", kw, ckpt, ("state_dict", "train_state_dict"))
    assert resumed["accuracy"] == full["accuracy"]
    # a vanishing decay makes the average follow the weights: the update runs after every step
    near = train(TrainConfig(out=str(tmp_path / "near"), **dict(kw, epochs=1, model_ema=1e-6)))
    assert near["complete"]
    one = read_checkpoint(tmp_path / "near" / "last.pt")
    for k in floats:
        assert torch.allclose(one["state_dict"][k], one["train_state_dict"][k], atol=1e-5), k
    with pytest.raises(ValueError, match="model_ema"):
        TrainConfig(model_ema=1.0)


def test_resume_of_a_run_saved_before_an_option_existed_counts_it_as_its_default():
    from lightops.train.run import check_resume

    cfg = TrainConfig(**TINY)
    saved = {k: v for k, v in cfg.to_dict().items() if k not in ("freq_dsu", "freq_dsu_factor")}  # an older run
    check_resume(cfg, saved, 1, "old/last.pt")  # same computation: accepted
    with pytest.raises(ValueError, match=r"freq_dsu: 0.0 -> 0.5"):
        check_resume(TrainConfig(**dict(TINY, freq_dsu=0.5)), saved, 1, "old/last.pt")


def test_replicas_that_disagree_are_one_plain_notice_and_recorded(tmp_path, monkeypatch, capsys):
    from lightops.train import run as run_mod

    real = run_mod.all_gather_objects

    def two_replicas(obj, env):  # the digest gather of finish() as if a second rank held other weights
        got = real(obj, env)
        return got + ["0" * 64] if isinstance(obj, str) else got

    monkeypatch.setattr(run_mod, "all_gather_objects", two_replicas)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(TrainConfig(out=str(tmp_path / "run"), **dict(TINY, epochs=1)))
    assert not [w for w in caught if "replicas" in str(w.message)]  # no raw Python warning
    err = [line for line in capsys.readouterr().err.splitlines() if "replicas" in line]
    assert len(err) == 1 and err[0].startswith("note: the DDP replicas hold different weights")
    assert result["replicas_identical"] is False


def test_an_output_folder_that_is_a_file_is_named_as_such(tmp_path):
    from lightops.fileio import check_writable_dir

    out = tmp_path / "results"
    out.write_text("keep me")
    with pytest.raises(NotADirectoryError, match=r"output folder .*results' is a file, not a folder"):
        check_writable_dir(out)
    assert out.read_text() == "keep me"
    assert check_writable_dir(tmp_path / "new") == str(tmp_path / "new") and (tmp_path / "new").is_dir()
