"""DCASE 2025 end to end on a fake TAU folder: train -> finetune -> eval -> package -> pip install -> predict; the
installed package gives lightops predict's labels and its per-device complexity passes."""
import csv
import json
import os
import subprocess
import sys

import pytest

import lightops
from lightops.checkpoint import read_checkpoint, save_checkpoint
from lightops.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(lightops.__file__)))  # the lightops under test

_SCRIPT = r"""
import csv, json, os, sys
import {name} as pkg
from lightops.profiling.dcase import dcase_complexity
files, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
logits, classes = pkg.predict(files, ids, use_cuda=False, batch_size=4)
model = pkg.load_model()
complexity = {{d: dcase_complexity(pkg.get_model_for_device(model, d), model.input_size).ok
               for d in ["a", "b", "s4", None]}}
dummy = pkg.predict([os.path.join(pkg.RESOURCES, "dummy.wav")], ["a"], use_cuda=False)[0][0]
with open(os.path.join(pkg.RESOURCES, "test.csv"), newline="") as fh:
    test = list(csv.DictReader(fh, delimiter="\t"))
print(json.dumps(dict(labels=[classes[int(x.argmax())] for x in logits], shape=list(logits[0].shape),
                      complexity={{str(k): v for k, v in complexity.items()}}, dummy=list(dummy.shape), test=test,
                      dtype=str(next(pkg.get_model_for_device(model, "a").parameters()).dtype))))
"""


def _labels(path):
    with open(path, newline="") as fh:
        return {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}


def _install(pkg_dir, target):
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(pkg_dir)], check=True, capture_output=True)


def _run_installed(target, name, files, ids):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), ROOT]))
    done = subprocess.run([sys.executable, "-c", _SCRIPT.format(name=name), json.dumps(files), json.dumps(ids)],
                          check=True, capture_output=True, text=True, env=env, cwd=str(target))
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_train_finetune_eval_package_install_predict(trained_tau_run, tmp_path):
    root, ckpt, _ = trained_tau_run
    tuned = tmp_path / "devices"
    assert main(["finetune", ckpt, "--per-device", "--out", str(tuned), "--epochs", "1", "--quiet"]) == 0
    assert main(["eval", str(tuned / "last.pt"), "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert "gain" in json.loads((tmp_path / "eval" / "metrics.json").read_text())
    pkg_dir = tmp_path / "pkg"
    assert main(["package", str(tuned / "last.pt"), "--name", "Lab_Tiny_task1_1", "--out", str(pkg_dir),
                 "--quiet"]) == 0
    report = json.loads((pkg_dir / "complexity.json").read_text())
    assert report["ok"] and list(report["models"]) == ["general", "a", "b"]
    assert all(r["dtype"] == "float16" for r in report["models"].values())
    for part in ("pyproject.toml", "Lab_Tiny_task1_1/ckpts/model.pt", "Lab_Tiny_task1_1/resources/dummy.wav",
                 "Lab_Tiny_task1_1/resources/test.csv"):
        assert (pkg_dir / part).is_file(), part
    target = tmp_path / "site"
    _install(pkg_dir, target)
    files = sorted(os.path.join(root, "audio", f) for f in os.listdir(os.path.join(root, "audio")))[::3]
    ids = [os.path.basename(f)[:-4].rsplit("-", 1)[1] for f in files]
    got = _run_installed(target, "Lab_Tiny_task1_1", files, ids)
    assert got["shape"] == [10] and got["dummy"] == [10] and got["dtype"] == "torch.float16"
    assert all(got["complexity"].values()) and got["test"][0]["filename"] == "dummy.wav"
    pred = tmp_path / "pred.csv"  # lightops predict on the packaged checkpoint, with the same device ids
    assert main(["predict", str(pkg_dir / "Lab_Tiny_task1_1" / "ckpts" / "model.pt"), *files, "--device-ids",
                 f"{root}/meta.csv", "--out", str(pred), "--quiet"]) == 0
    labels = _labels(pred)
    assert got["labels"] == [labels[os.path.basename(f)] for f in files]


def test_package_errors(trained_tau_run, tmp_path):
    _, ckpt, _ = trained_tau_run
    with pytest.raises(SystemExit, match="--name must be a Python package name"):
        main(["package", ckpt, "--name", "9-bad", "--out", str(tmp_path / "p")])
    (tmp_path / "exists").mkdir()
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        main(["package", ckpt, "--name", "ok_name", "--out", str(tmp_path / "exists")])
    assert main(["package", ckpt, "--name", "ok_name", "--out", str(tmp_path / "exists"), "--overwrite", "--dtype",
                 "fp32", "--quiet"]) == 0
    report = json.loads((tmp_path / "exists" / "complexity.json").read_text())
    assert list(report["models"]) == ["general"] and report["models"]["general"]["dtype"] == "float32"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


@pytest.mark.parametrize("option, value, message", [
    ("--name", "class", "--name must be a Python package name .*not a Python keyword.*'class'"),
    ("--version", "not a version!", "--version must be a PEP 440 version such as 0.1.0.*'not a version!'"),
])
def test_name_and_version_pip_cannot_use_are_refused(trained_tau_run, tmp_path, option, value, message):
    _, ckpt, _ = trained_tau_run
    args = {"--name": "ok_name", "--version": "0.1.0", option: value}
    with pytest.raises(SystemExit, match=f"lightops package: {message}"):
        main(["package", ckpt, "--out", str(tmp_path / "p"), *[x for kv in args.items() for x in kv]])
    assert not (tmp_path / "p").exists()


def test_int8_checkpoint_and_out_holding_the_checkpoint_are_refused(trained_tau_run, tmp_path):
    """An int8 checkpoint would be packaged as its float model; --overwrite onto the checkpoint's folder would
    delete it."""
    _, ckpt, _ = trained_tau_run
    run = tmp_path / "run"
    run.mkdir()
    int8 = dict(read_checkpoint(ckpt), quantized={"program": b"not read", "input_size": [1, 256, 44]})
    save_checkpoint(int8, run / "ptq.pt")
    with pytest.raises(SystemExit, match=r"ptq\.pt holds an int8 model .*ships the float model at fp16 or fp32"):
        main(["package", str(run / "ptq.pt"), "--name", "ok_name", "--out", str(tmp_path / "p")])
    assert not (tmp_path / "p").exists()
    save_checkpoint(read_checkpoint(ckpt), run / "last.pt")
    with pytest.raises(SystemExit, match=r"--out .*run holds the checkpoint .*last\.pt"):
        main(["package", str(run / "last.pt"), "--name", "ok_name", "--out", str(run), "--overwrite"])
    assert (run / "last.pt").is_file() and (run / "ptq.pt").is_file()
