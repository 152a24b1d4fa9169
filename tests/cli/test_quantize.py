"""`lightops quantize` end to end: PTQ and QAT checkpoints with their accuracy table, which eval, predict, complexity
and export --format executorch (int8, XNNPACK) accept."""
import json

import pytest

from lightops.cli import main

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")


@pytest.fixture(scope="module")
def quantized(trained_tau_run, tmp_path_factory):
    root, ckpt, _ = trained_tau_run
    out = tmp_path_factory.mktemp("int8")
    assert main(["quantize", ckpt, "--data", root, "--out", str(out), "--calibration-clips", "8",
                 "--qat-epochs", "1", "--quiet"]) == 0
    return root, out


@pytest.mark.slow
def test_quantize_writes_ptq_qat_and_the_table(quantized, capsys):
    _, out = quantized
    result = json.loads((out / "quantize.json").read_text())
    rows = result["results"]
    assert set(rows) == {"fp32", "ptq", "qat"}
    assert rows["ptq"]["calibration_clips"] == 8 and rows["qat"]["qat_epochs"] == 1
    assert all(0 <= r["accuracy"] <= 1 for r in rows.values())
    # seen (a, b) and unseen (s4) devices reported per model, the unseen change against the same float checkpoint
    assert all(0 <= r["seen_accuracy"] <= 1 and 0 <= r["unseen_accuracy"] <= 1 for r in rows.values())
    assert rows["ptq"]["unseen_change_points"] == pytest.approx(
        100 * (rows["ptq"]["unseen_accuracy"] - rows["fp32"]["unseen_accuracy"]))
    # int8 weights, float biases: fp32 would be 4 bytes a value; this width-0.25 model's biases and shifts are 8 % of
    # its values (dssdn_small's: 3 %, tests/deploy/test_pt2e_memory.py)
    assert rows["ptq"]["params"] < rows["ptq"]["param_bytes"] < 1.5 * rows["ptq"]["params"]


@pytest.mark.slow
def test_int8_checkpoint_is_accepted_downstream(quantized, tmp_path, capsys):
    root, out = quantized
    ptq = str(out / "ptq.pt")
    assert main(["eval", ptq, "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    ptq_row = json.loads((out / "quantize.json").read_text())["results"]["ptq"]
    assert metrics["accuracy"] == pytest.approx(ptq_row["accuracy"])
    assert metrics["unseen"]["accuracy"] == pytest.approx(ptq_row["unseen_accuracy"])
    assert main(["predict", ptq, f"{root}/audio", "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    main(["complexity", ptq])
    assert "int8 program" in capsys.readouterr().out
    pte = tmp_path / "int8.pte"
    assert main(["export", ptq, "--format", "executorch", "--out", str(pte)]) == 0
    text = capsys.readouterr().out
    assert "ExecuTorch int8" in text and "top-1 agreement" in text and "portable kernels: 0" in text
    meta = json.loads((tmp_path / "int8.pte.json").read_text())["lightops.executorch"]
    assert meta["dtype"] == "int8" and meta["delegation"]["portable_ops"] == 0 and 0 <= meta["agreement"] <= 1
    assert main(["predict", str(pte), f"{root}/audio", "--out", str(tmp_path / "q.csv"), "--quiet"]) == 0
    onnx_file = tmp_path / "int8.onnx"  # the same program as QDQ for ONNX Runtime
    assert main(["export", ptq, "--out", str(onnx_file)]) == 0
    assert "int8 QDQ from the PT2E program" in capsys.readouterr().out
    assert main(["predict", str(onnx_file), f"{root}/audio", "--out", str(tmp_path / "o.csv"), "--quiet"]) == 0
    rows = [(tmp_path / f).read_text().splitlines() for f in ("p.csv", "o.csv")]
    assert len(rows[0]) == len(rows[1]) > 1


def test_already_quantized_is_refused(quantized):
    _, out = quantized
    with pytest.raises(SystemExit, match="already an int8 checkpoint"):
        main(["quantize", str(out / "ptq.pt"), "--out", str(out / "again"), "--quiet"])


def test_qat_continues_at_the_rate_the_training_ended_at(quantized, tmp_path):
    from lightops.cli.quantize import QuantizeConfig, qat_lr

    assert qat_lr(QuantizeConfig(), {"args": {"min_lr": 3e-5}}) == 3e-5
    assert qat_lr(QuantizeConfig(lr=1e-3), {"args": {"min_lr": 3e-5}}) == 1e-3
    assert qat_lr(QuantizeConfig(), {}) == 1e-5  # lightops train's default --min-lr
    _, out = quantized
    qat = json.loads((out / "quantize.json").read_text())["results"]["qat"]
    assert qat["qat_epochs"] == 1 and qat["lr"] == 1e-5  # the run's --min-lr
    with pytest.raises(SystemExit, match="--lr must be > 0"):
        main(["quantize", str(out / "ptq.pt"), "--out", str(tmp_path / "x"), "--lr", "0", "--quiet"])


def test_table_shows_seen_and_unseen_devices_where_known():
    from lightops.cli.quantize import table

    rows = {"fp32": dict(accuracy=0.5, change_points=0.0, seen_accuracy=0.6, unseen_accuracy=0.3,
                         unseen_change_points=0.0),
            "ptq": dict(accuracy=0.49, change_points=-1.0, seen_accuracy=0.6, unseen_accuracy=0.28,
                        unseen_change_points=-2.0, checkpoint="out/ptq.pt"),
            "qat": dict(accuracy=0.5, change_points=0.0)}  # a split without device names
    lines = table({"results": rows, "eval_clips": 40}).splitlines()
    assert "unseen" in lines[0]
    assert "28.00%" in lines[3] and "-2.00p" in lines[3] and lines[3].endswith("out/ptq.pt")
    assert lines[4].split()[:3] == ["qat", "50.00%", "+0.00p"] and lines[4].split()[3:] == ["-", "-", "-"]


@pytest.mark.parametrize("flag,value,least", [("--calibration-clips", "0", 1), ("--batch-size", "0", 1),
                                              ("--qat-epochs", "-1", 0)])
def test_bad_counts_are_refused_naming_the_option(trained_tau_run, tmp_path, flag, value, least):
    _, ckpt, _ = trained_tau_run
    with pytest.raises(SystemExit) as info:
        main(["quantize", ckpt, "--out", str(tmp_path / "q"), flag, value])
    assert str(info.value.code) == f"lightops quantize: {flag} must be >= {least}, got {value}"
    assert not (tmp_path / "q").exists()
