"""`lightops predict` end to end: the CSV reproduces `lightops eval`'s accuracy; ONNX gives the same labels."""
import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf

from lightops.cli import main


def _labels(path):
    with open(path, newline="") as fh:
        return {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}


def _eval_split(root):
    with open(f"{root}/evaluation_setup/fold1_evaluate.csv", newline="") as fh:
        return {r["filename"]: r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")}


def test_predict_reproduces_eval_accuracy(trained_tau_run, tmp_path):
    root, ckpt, _ = trained_tau_run
    assert main(["eval", ckpt, "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    accuracy = json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy"]
    out = tmp_path / "pred.csv"
    assert main(["predict", ckpt, f"{root}/audio", "--out", str(out), "--quiet"]) == 0
    truth, labels = _eval_split(root), _labels(out)
    assert set(truth) <= set(labels)
    assert sum(labels[f] == s for f, s in truth.items()) / len(truth) == accuracy


@pytest.mark.slow
@pytest.mark.parametrize("options", [["--exporter", "torchscript"], ["--static"]], ids=["dynamic", "static"])
def test_onnx_gives_the_same_labels(trained_tau_run, tmp_path, options):
    """A dynamic-length file and a fixed-length one (batches of windows: its batch axis stays dynamic)."""
    pytest.importorskip("onnxruntime")
    root, ckpt, _ = trained_tau_run
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", ckpt, "--out", str(onnx_path), *options]) == 0
    a, b = tmp_path / "pt.csv", tmp_path / "onnx.csv"
    assert main(["predict", ckpt, f"{root}/audio", "--out", str(a), "--quiet"]) == 0
    assert main(["predict", str(onnx_path), f"{root}/audio", "--out", str(b), "--quiet"]) == 0
    assert _labels(a) == _labels(b)
    pa = np.loadtxt(a, delimiter="\t", skiprows=1, usecols=range(2, 12))
    pb = np.loadtxt(b, delimiter="\t", skiprows=1, usecols=range(2, 12))
    assert np.abs(pa - pb).max() < 1e-4


def test_failures_exit_non_zero_with_errors_file(trained_tau_run, tmp_path, capsys):
    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "ok.wav", np.zeros(8000, dtype=np.float32), 16000)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    errors = tmp_path / "errors.tsv"
    out = tmp_path / "p.csv"
    assert main(["predict", ckpt, str(tmp_path / "ok.wav"), str(tmp_path / "bad.wav"), "--out", str(out),
                 "--errors", str(errors), "--quiet"]) == 1
    assert list(_labels(out)) == ["ok.wav"]
    assert errors.read_text().startswith("bad.wav\t") and "bad.wav" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="give audio files"):
        main(["predict", ckpt, "--out", str(out)])


@pytest.mark.parametrize("fmt", ["f32", "s16"])
def test_stream_from_standard_input(trained_tau_run, monkeypatch, capsys, fmt):
    _, ckpt, _ = trained_tau_run
    wave = (0.05 * np.random.default_rng(0).standard_normal(20000)).astype(np.float32)
    raw = (wave * 32768).astype("<i2").tobytes() if fmt == "s16" else wave.astype("<f4").tobytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert main(["predict", ckpt, "--stream", "--stream-format", fmt, "--window", "0.5", "--hop", "0.25"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("onset\tscene_label")
    assert [float(line.split("\t")[0]) for line in lines[1:]] == [0.0, 0.25, 0.5, 0.75]
