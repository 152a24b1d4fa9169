"""Device-specific fine-tuning: one copy per training device in one checkpoint, resumable, evaluated general vs
device-specific; eval and predict --device-ids route each clip to its device's model."""
import csv
import json
import os

import pytest
import torch

from lightops.checkpoint import load_model, read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.train.finetune import FinetuneConfig, finetune


@pytest.fixture(scope="module")
def finetuned(trained_tau_run, tmp_path_factory):
    root, ckpt, _ = trained_tau_run
    out = tmp_path_factory.mktemp("finetune")
    result = finetune(FinetuneConfig(checkpoint=ckpt, out=str(out), epochs=1, lr=1e-3, quiet=True))
    return root, ckpt, str(out), result


def test_one_model_per_training_device(finetuned):
    _, ckpt, out, result = finetuned
    assert result["complete"] and result["devices"] == ["a", "b"]
    assert {"last.pt", "metrics.json", "finetune.json"} <= set(os.listdir(out))
    general, tuned = read_checkpoint(ckpt), read_checkpoint(os.path.join(out, "last.pt"))
    assert sorted(tuned["device_models"]) == ["a", "b"] and "optimizer" not in tuned
    assert all(torch.equal(general["state_dict"][k], v) for k, v in tuned["state_dict"].items())  # general kept
    changed = [k for k, v in tuned["device_models"]["a"].items() if not torch.equal(v, general["state_dict"][k])]
    assert changed  # the copy was trained
    loaded = load_model(os.path.join(out, "last.pt"))
    assert sorted(loaded.device_models) == ["a", "b"]


def test_metrics_compare_general_and_device_specific(finetuned):
    _, _, out, result = finetuned
    saved = json.loads(open(os.path.join(out, "metrics.json")).read())
    assert saved["accuracy"] == result["accuracy"] and "general" in saved and "gain" in saved
    comp = saved["comparison"]
    assert comp["a"]["model"] == "a" and comp["s4"]["model"] == "general" and not comp["s4"]["seen"]
    assert comp["s4"]["general"] == comp["s4"]["device_specific"] and saved["gain"]["unknown"] == 0.0


def test_resume_gives_the_same_weights(trained_tau_run, finetuned, tmp_path):
    _, ckpt, out, _ = finetuned
    part = finetune(FinetuneConfig(checkpoint=ckpt, out=str(tmp_path), epochs=1, lr=1e-3, quiet=True, stop_after=1))
    assert part == {"complete": False, "devices_done": ["a"]}
    assert list(read_checkpoint(tmp_path / "last.pt")["device_models"]) == ["a"]
    with pytest.raises(FileExistsError, match="--resume"):
        finetune(FinetuneConfig(checkpoint=ckpt, out=str(tmp_path), epochs=1, lr=1e-3))
    with pytest.raises(ValueError, match="lr"):
        finetune(FinetuneConfig(checkpoint=ckpt, out=str(tmp_path), epochs=1, lr=2e-3, resume=True))
    finetune(FinetuneConfig(checkpoint=ckpt, out=str(tmp_path), epochs=1, lr=1e-3, quiet=True, resume=True))
    a = read_checkpoint(tmp_path / "last.pt")["device_models"]
    b = read_checkpoint(os.path.join(out, "last.pt"))["device_models"]
    assert sorted(a) == sorted(b) and all(torch.equal(a[d][k], b[d][k]) for d in a for k in a[d])


def test_bad_inputs(trained_tau_run, finetuned, tmp_path):
    _, ckpt, out, _ = finetuned
    with pytest.raises(ValueError, match="already holds device models"):
        finetune(FinetuneConfig(checkpoint=os.path.join(out, "last.pt"), out=str(tmp_path / "x")))
    with pytest.raises(ValueError, match=r"\['c'\] have no training clips"):
        finetune(FinetuneConfig(checkpoint=ckpt, out=str(tmp_path / "y"), devices=("a", "c")))
    with pytest.raises(ValueError, match="epochs"):
        FinetuneConfig(checkpoint=ckpt, out="z", epochs=0)
    with pytest.raises(SystemExit, match="--resume: no fine-tuning"):
        main(["finetune", ckpt, "--per-device", "--out", str(tmp_path / "w"), "--resume"])


def test_int8_checkpoint_is_refused(trained_tau_run, tmp_path):
    """An int8 checkpoint (lightops quantize) cannot be trained: refused before any data is read or folder made."""
    _, ckpt, _ = trained_tau_run
    int8 = dict(read_checkpoint(ckpt), quantized={"program": b"not read", "input_size": [1, 256, 44]})
    save_checkpoint(int8, tmp_path / "ptq.pt")
    with pytest.raises(SystemExit, match=r"lightops finetune: .*ptq\.pt holds an int8 model .*finetune the float "
                                         r"checkpoint, then quantize"):
        main(["finetune", str(tmp_path / "ptq.pt"), "--per-device", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def _labels(path):
    with open(path, newline="") as fh:
        return {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}


def test_eval_and_predict_route_by_device(finetuned, tmp_path):
    root, _, out, result = finetuned
    ckpt = os.path.join(out, "last.pt")
    assert main(["eval", ckpt, "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["accuracy"] == result["accuracy"] and metrics["general"]["accuracy"] == result["general"]["accuracy"]
    pred = tmp_path / "pred.csv"
    assert main(["predict", ckpt, f"{root}/audio", "--device-ids", f"{root}/meta.csv", "--out", str(pred),
                 "--quiet"]) == 0
    with open(f"{root}/evaluation_setup/fold1_evaluate.csv", newline="") as fh:
        truth = {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}
    labels = _labels(pred)
    assert sum(labels[f] == s for f, s in truth.items()) / len(truth) == pytest.approx(metrics["accuracy"])
