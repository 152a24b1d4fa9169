"""Bad inputs fail early with a message naming the problem, and leave no run behind that looks complete."""
import os
import shutil

import pytest
import torch

from lightops.cli.train import main as train_main
from lightops.train import TrainConfig, build_model, train
from tests.train.common import TINY, TINY_ARGS


def _fails(argv, match):
    with pytest.raises(SystemExit, match=match):
        train_main(TINY_ARGS + ["--epochs", "1"] + argv)


def test_unknown_model(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model 'dssdn_nano'; expected one of \['dssdn_large'"):
        build_model("dssdn_nano")
    with pytest.raises(ValueError, match="dcase2020_baseline"):
        train(TrainConfig(**dict(TINY, model="dssdn_nano", out=str(tmp_path / "a"))))
    _fails(["--model", "dssdn_nano", "--out", str(tmp_path / "b")], "unknown model 'dssdn_nano'")
    _fails(["--model-kwargs", '{"nope": 1}', "--out", str(tmp_path / "c")], "rejected its arguments")
    assert not list(tmp_path.rglob("last.pt"))


@pytest.mark.parametrize("epochs", [0, -1])
def test_epochs_must_be_positive(epochs, tmp_path):
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        TrainConfig(epochs=epochs)
    with pytest.raises(SystemExit, match="epochs must be an int >= 1"):
        train_main(TINY_ARGS + ["--epochs", str(epochs), "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def test_missing_data_path(tmp_path):
    _fails(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")], "data folder not found")
    assert not (tmp_path / "run").exists()


def test_unwritable_out(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    _fails(["--data", "synthetic", "--out", str(blocker / "run")], "not writable")
    assert blocker.read_text() == "not a folder"


def test_wrong_sample_rate(fake_tau, tmp_path):
    _fails(["--data", fake_tau, "--sample-rate", "22050", "--out", str(tmp_path / "run")],
           "sample rate 16000 Hz, expected 22050")
    assert not (tmp_path / "run").exists()


def test_corrupt_wav_leaves_no_checkpoint(fake_tau, tmp_path):
    root = shutil.copytree(fake_tau, tmp_path / "tau")
    listed = (root / "evaluation_setup" / "fold1_train.csv").read_text().splitlines()[1:]
    (root / listed[-1].split("\t")[0]).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)  # not the first clip
    out = tmp_path / "run"
    _fails(["--data", str(root), "--norm-clips", "1", "--out", str(out)], "cannot read audio file")  # in epoch 1
    assert not out.exists()  # no last.pt, no metrics.json, no temporary file: the folder the run made is removed


def test_empty_split(fake_tau, tmp_path):
    root = shutil.copytree(fake_tau, tmp_path / "tau")
    (root / "evaluation_setup" / "fold1_evaluate.csv").write_text("filename\tscene_label\n")
    _fails(["--data", str(root), "--out", str(tmp_path / "run")], "'evaluate' is empty")
    _fails(["--num-clips", "0", "--out", str(tmp_path / "run")], "num_clips must be an int >= 1")
    assert not (tmp_path / "run").exists()


def test_eval_rejects_what_is_not_a_checkpoint(tmp_path):
    from lightops.cli.eval import main as eval_main

    (tmp_path / "notes.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="cannot read checkpoint"):
        eval_main([str(tmp_path / "notes.pt"), "--quiet"])
    with pytest.raises(SystemExit, match="checkpoint not found"):
        eval_main([str(tmp_path / "missing.pt"), "--quiet"])
    assert not (tmp_path / "eval").exists()


def test_checkpoint_that_is_not_a_torch_file_or_is_cut_short_says_so(tmp_path):
    """A text file, an empty file and a checkpoint cut short (an interrupted copy) are named as what they are, not as
    torch.load's weights_only advice."""
    from lightops.checkpoint import read_checkpoint

    good = tmp_path / "good.pt"
    torch.save({"x": torch.zeros(1000)}, good)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:600])
    (tmp_path / "notes.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "empty.pt").write_bytes(b"")
    for name, why in [("cut.pt", "cut short"), ("notes.pt", "not a PyTorch file"), ("empty.pt", "empty")]:
        with pytest.raises(ValueError, match=why) as info:
            read_checkpoint(tmp_path / name)
        assert "weights_only" not in str(info.value) and name in str(info.value)
    with pytest.raises(ValueError, match="not a lightops checkpoint"):  # a whole torch file reaches the format check
        read_checkpoint(good)


def test_teacher_logits_file_cut_short_is_one_line(tmp_path):
    """--teacher-logits with a broken file stops with one line naming it (it was a torch traceback)."""
    (tmp_path / "logits.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    _fails(["--teacher-logits", str(tmp_path / "logits.pt"), "--out", str(tmp_path / "run")],
           r"cannot read teacher logits file .*logits.pt.*cut short")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_input_too_short_for_the_model_names_the_options_that_made_it(tmp_path):
    _fails(["--hop-length", "2048", "--n-fft", "2048", "--out", str(tmp_path / "run")],
           r"T >= \d+ frames.*0\.5-s clip at 16000 Hz: 64 mel bins x 4 frames of hop 2048; change --clip-seconds")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_eval_keeps_the_run_metrics_and_refuses_sizes_below_one(trained_tau_run, tmp_path):
    """`lightops eval CKPT --out RUN` would replace the run's metrics.json (its training history); --num-clips 0 was
    read as 'as trained'. Both are refused before any work, naming the option."""
    from lightops.cli import main

    _, ckpt, _ = trained_tau_run
    run = os.path.dirname(ckpt)
    before = open(os.path.join(run, "metrics.json")).read()
    with pytest.raises(SystemExit, match="is the folder of the checkpoint"):
        main(["eval", ckpt, "--out", run])
    assert open(os.path.join(run, "metrics.json")).read() == before
    for option in ("--num-clips", "--batch-size"):
        with pytest.raises(SystemExit, match=f"{option} must be at least 1, got 0"):
            main(["eval", ckpt, option, "0", "--out", str(tmp_path / "e")])
