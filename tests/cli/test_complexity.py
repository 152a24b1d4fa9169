"""`lightops complexity` and lightops.profiling.dcase: the DCASE organisers' counting, per device model."""
import copy
import json

import pytest
import torch
import torch.nn as nn
from torchinfo import summary

import lightops
from lightops.checkpoint import read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.profiling.dcase import dcase_complexity, dcase_report, param_bytes


@pytest.fixture(scope="module")
def baseline():
    return lightops.create_model("dcase2025_baseline")


def test_reproduces_the_dcase2025_baseline(baseline):
    """The baseline ships fp16: 61,148 params = 122,296 B; its MACs on (1, 256, 65) are torchinfo's."""
    rec = dcase_complexity(baseline, (1, 256, 65), dtype="fp16")
    assert (rec.params, rec.param_bytes, rec.dtype) == (61_148, 122_296, "float16") and rec.ok
    expected = summary(copy.deepcopy(baseline).float(), input_size=(1, 1, 256, 65), verbose=0).total_mult_adds
    assert rec.macs == expected and rec.macs <= 30_000_000
    held = dcase_complexity(baseline, (1, 256, 65))  # as held: float32, 4 B each, over the limit
    assert held.param_bytes == 4 * 61_148 and held.macs_ok and not held.memory_ok and not held.ok
    assert dcase_complexity(baseline.half(), (1, 256, 65)).param_bytes == 122_296  # what a half model holds
    assert next(baseline.parameters()).dtype == torch.float16  # (the fixture is module-scoped: the last use)


def test_bytes_follow_the_dtype_each_parameter_holds():
    mixed = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 4).half())
    assert param_bytes(mixed) == (110 * 4 + 44 * 2, "mixed")
    int8 = dcase_complexity(nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), (1, 8, 8),
                            dtype="int8")
    assert int8.param_bytes == int8.params == 40 and int8.dtype == "int8 (stated)"
    weird = nn.Linear(2, 2).to(torch.float64)
    with pytest.raises(ValueError, match="float64"):
        param_bytes(weird)
    with pytest.raises(ValueError, match="dtype"):
        dcase_complexity(nn.Linear(2, 2), (1, 1, 2), dtype="fp8")
    with pytest.raises(ValueError, match="rules"):
        dcase_complexity(nn.Linear(2, 2), (1, 1, 2), rules="dcase2099")


def test_dcase2024_limits_the_count(baseline):
    small = lightops.create_model("dssdn_small")
    r24 = dcase_complexity(small, (1, 256, 44), rules="dcase2024")
    r25 = dcase_complexity(small, (1, 256, 44), dtype="fp16")
    assert r24.ok and r24.max_params == 128_000 and r24.max_param_bytes is None
    assert not r25.ok and r25.param_bytes == 2 * r25.params == 202_882  # does not fit DCASE 2025 at fp16


def test_cli_json_and_exit_code(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["complexity", "dcase2025_baseline", "--dtype", "fp16", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["ok"] and report["models"]["general"]["param_bytes"] == 122_296
    assert report["input_size"] == [1, 256, 65]
    assert main(["complexity", "dssdn_small"]) == 1  # fp32 as held: 406,052 B
    assert main(["complexity", "dssdn_small", "--dtype", "int8"]) == 0
    text = capsys.readouterr().out
    assert "FAILS" in text and "count of the stated dtype" in text
    with pytest.raises(SystemExit, match="unknown model"):
        main(["complexity", "no_such_model"])


def test_every_device_model_is_counted(trained_tau_run, tmp_path):
    _, ckpt_path, _ = trained_tau_run
    ckpt = read_checkpoint(ckpt_path)
    ckpt["device_models"] = {"b": ckpt["state_dict"], "a": ckpt["state_dict"]}
    path = tmp_path / "multi.pt"
    save_checkpoint(ckpt, path)
    out = tmp_path / "c.json"
    assert main(["complexity", str(path), "--dtype", "fp16", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert list(report["models"]) == ["general", "a", "b"] and report["input_size"] == list(ckpt["input_size"])
    assert len({json.dumps(r) for r in report["models"].values()}) == 1  # same network, same counts


def test_budget_and_summary_use_the_same_count(capsys, baseline):
    assert main(["budget", "--rules", "dcase2025"]) == 1  # the DSSDN variants do not fit at fp16
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    base = dcase_report({"general": lightops.create_model("dcase2025_baseline")}, (1, 256, 65), "fp16")
    rec = base["models"]["general"]
    assert f"{rec['macs']:,}" in rows["dcase2025_baseline"] and rows["dcase2025_baseline"].rstrip().endswith("passes")
    assert "202,882" in rows["dssdn_small"] and "FAILS" in rows["dssdn_small"]
    main(["summary", "dssdn_small"])
    text = capsys.readouterr().out
    assert "DCASE 2025 counting" in text and "at fp16 202,882 B, fails" in text and "DCASE limit 128 kB" not in text


def test_json_path_checked_before_counting(trained_tau_run, tmp_path):
    """--json is the checkpoint, a folder or in a missing folder: one line before counting; the checkpoint is kept."""
    _, ckpt_path, _ = trained_tau_run
    path = tmp_path / "last.pt"
    path.write_bytes(open(ckpt_path, "rb").read())
    before = path.read_bytes()
    with pytest.raises(SystemExit, match=r"lightops complexity: --json .*last\.pt is the checkpoint"):
        main(["complexity", str(path), "--json", str(path)])
    assert path.read_bytes() == before
    with pytest.raises(SystemExit, match="is a folder"):
        main(["complexity", str(path), "--json", str(tmp_path)])
    with pytest.raises(SystemExit, match="does not exist"):
        main(["complexity", str(path), "--json", str(tmp_path / "nodir" / "c.json")])


@pytest.mark.parametrize("size, reason", [("2,256,44", "expected a log-mel input"),
                                          ("1,8,4", "expected at least F >= 33")])
def test_input_size_the_model_cannot_take(size, reason):
    with pytest.raises(SystemExit, match=rf"lightops complexity: input size \(C,F,T\) = {size} does not fit the model"
                                         rf": DSSDN: {reason}"):
        main(["complexity", "dssdn_small", "--input", size])
