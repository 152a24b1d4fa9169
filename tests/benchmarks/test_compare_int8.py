"""``python -m benchmarks.compare_int8``: the table over fake quantize results, the command of one run, and one tiny
run end to end (train, PTQ, QAT, JSON, docs block, reuse)."""
import json
import shutil
from pathlib import Path

import pytest

from benchmarks import compare, compare_int8

ROOT = Path(__file__).resolve().parents[2]


def _result(fp32, ptq, qat, unseen=None):
    rows = {"fp32": {"accuracy": fp32}, "ptq": {"accuracy": ptq, "param_bytes": 1234, "params": 1000},
            "qat": {"accuracy": qat, "param_bytes": 1234, "params": 1000}}
    for r in rows.values():
        r["change_points"] = 100 * (r["accuracy"] - fp32)
    if unseen is not None:  # (fp32, ptq, qat) on the unseen devices, as lightops quantize writes them
        for r, u in zip(rows.values(), unseen):
            r["unseen_accuracy"], r["unseen_change_points"] = u, 100 * (u - unseen[0])
    return {"results": rows, "eval_clips": 40, "input_size": [1, 32, 63], "complete": True}


def test_table_is_mean_and_spread_of_the_changes_over_seeds():
    rows = [compare_int8.run_row(compare.Job("tau", "m", "default", s), _result(*v))
            for s, v in enumerate([(0.50, 0.49, 0.51), (0.60, 0.58, 0.61), (0.70, 0.70, 0.72)])]
    assert rows[1]["ptq_change"] == pytest.approx(-2.0) and rows[2]["qat_change"] == pytest.approx(2.0)
    settings = dict(epochs=1, data="synthetic", train_clips=40, eval_clips=40, clip_seconds=1.0, sample_rate=16000,
                    n_mels=32)
    text = compare_int8.markdown(dict(rows=rows, training_rows=[{"settings": settings}], command="c", date="d",
                                      machine="x", form="memory", backend="xnnpack", calibration_clips=8,
                                      qat_epochs=1))
    assert ("| tau | m | 60.0 ± 10.0 | 59.0 ± 10.5 | -1.00 ± 1.00 | 61.3 ± 10.5 | +1.33 ± 0.58 | n/a | n/a | n/a "
            "| 1,234 B |") in text
    assert "m (tau) -1.00 / +1.00, -2.00 / +1.00, +0.00 / +2.00." in text  # each family named
    assert "--qat-epochs 1" in text


def test_table_reports_the_change_on_unseen_devices():
    rows = [compare_int8.run_row(compare.Job("eq", "m", "default", s), _result(0.5, 0.5, 0.5, u))
            for s, u in enumerate([(0.40, 0.37, 0.41), (0.30, 0.30, 0.33)])]
    assert rows[0]["fp32_unseen"] == 0.40 and rows[0]["ptq_unseen_change"] == pytest.approx(-3.0)
    assert rows[1]["qat_unseen_change"] == pytest.approx(3.0)
    settings = dict(epochs=1, data="synthetic", train_clips=40, eval_clips=40, clip_seconds=1.0, sample_rate=16000,
                    n_mels=32)
    text = compare_int8.markdown(dict(rows=rows, training_rows=[{"settings": settings}], command="c", date="d",
                                      machine="x", form="memory", backend="xnnpack", calibration_clips=8,
                                      qat_epochs=1))
    assert "| 35.0 ± 7.1 | -1.50 ± 2.12 | +2.00 ± 1.41 | 1,234 B |" in text
    assert "| fp32 unseen % | PTQ unseen change | QAT unseen change | int8 parameter memory |" in text


def test_quantize_command_names_the_run_and_its_options(tmp_path):
    args = compare_int8.parse_args(["--runs", str(tmp_path), "--qat-epochs", "3", "--form", "speed"])
    assert args.models == ["dssdn_small", "dssdn_large"] and args.docs.endswith("deploy.md")
    job = compare.Job("tau", "dssdn_small", "default", 2)
    cmd = compare_int8.quantize_command(args, job)
    assert cmd[4] == str(compare.run_dir(args, job) / "last.pt")
    assert cmd[cmd.index("--out") + 1] == str(compare.run_dir(args, job) / "int8" / "speed-xnnpack-qat3")
    assert cmd[cmd.index("--qat-epochs") + 1] == "3" and cmd[cmd.index("--seed") + 1] == "2"
    assert "--qat-observer" not in cmd  # the default: commands of earlier results stay the same
    args.qat_observer = "minmax"
    cmd = compare_int8.quantize_command(args, job)
    assert cmd[cmd.index("--qat-observer") + 1] == "minmax"
    assert cmd[cmd.index("--out") + 1].endswith("speed-xnnpack-qat3-minmax")


@pytest.mark.slow
def test_tiny_int8_comparison_writes_json_and_docs_block(tmp_path):
    pytest.importorskip("torchao")
    pytest.importorskip("executorch.exir")
    page = tmp_path / "deploy.md"
    shutil.copy(ROOT / "docs" / "deploy.md", page)
    # 90 evaluation clips: ten per device, so the unseen devices s4-s6 are in the evaluate split
    argv = ["--models", "dssdn_small[width=0.25]", "--seeds", "0", "--epochs", "1", "--clips", "40", "--eval-clips",
            "90", "--sample-rate", "16000", "--n-fft", "512", "--hop-length", "256", "--n-mels", "40",
            "--batch-size", "8", "--qat-epochs", "1", "--calibration-clips", "8", "--runs", str(tmp_path / "runs"),
            "--json", str(tmp_path / "int8.json"), "--docs", str(page)]
    assert compare_int8.main(argv) == 0
    results = json.loads((tmp_path / "int8.json").read_text())
    (row,) = results["rows"]
    assert 0 <= row["fp32"] <= 1 and 0 <= row["ptq"] <= 1 and 0 <= row["qat"] <= 1
    assert row["ptq_change"] == pytest.approx(100 * (row["ptq"] - row["fp32"]))
    assert 0 <= row["fp32_unseen"] <= 1 and "qat_unseen_change" in row  # synthetic scenes have unseen devices
    assert 0 < row["int8_param_bytes"] < 4 * row["int8_values"]
    assert results["training_rows"][0]["settings"]["n_mels"] == 40 and results["block"] == "int8-accuracy"
    text = page.read_text()
    assert "| - | dssdn_small[width=0.25] |" in text and "python -m benchmarks.compare_int8 --models" in text
    assert f"Runs trained at lightops {compare.code_label(compare.code_version())} (1)." in text
    done = next((tmp_path / "runs").rglob("quantize.json"))
    stamp = done.stat().st_mtime_ns
    assert compare_int8.main(argv + ["--no-docs"]) == 0  # trained and quantized runs are reused
    assert done.stat().st_mtime_ns == stamp
    # a result of QAT with min/max activation ranges (before the histogram observer) is quantized again
    old = json.loads(done.read_text())
    old["results"]["qat"]["activation_observer"] = "MovingAverageMinMaxObserver"
    done.write_text(json.dumps(old))
    state = done.parent / "qat_state.pt"
    state_stamp = state.stat().st_mtime_ns
    assert compare_int8.main(argv + ["--no-docs"]) == 0
    assert json.loads(done.read_text())["results"]["qat"]["activation_observer"] == "HistogramObserver, 1 batch in 8"
    assert state.stat().st_mtime_ns != state_stamp  # fine-tuned again, not resumed from the finished state
