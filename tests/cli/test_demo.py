"""`lightops demo` (the README's main job) trains dssdn_small (OSC) and the DCASE 2025 baseline side by side."""
import re

import pytest
import torch

from lightops._factory import model_label
from lightops.cli import main
from lightops.cli.demo import DEMO_MODELS, comparison_table


def test_model_label_is_the_benchmarks_spelling():
    assert model_label("dssdn_small") == "dssdn_small"
    assert model_label("dssdn_small", {"op": "osc", "num_classes": 10}) == "dssdn_small[op=osc]"
    assert model_label("dssdn_small", {"op": "osc", "high_op": "sc"}) == "dssdn_small[op=osc,high_op=sc]"


def test_comparison_table_labels_rows_with_model_arguments():
    row = dict(model="dssdn_small", model_kwargs={"op": "osc", "num_classes": 10}, params=109065, macs=16.3e6,
               mean_train_seconds_per_epoch=1.0, accuracy=0.5, seen={"accuracy": 0.6}, unseen={"accuracy": 0.4},
               log_loss=1.2)
    assert comparison_table([row]).splitlines()[-1].split()[:3] == ["dssdn_small[op=osc]", "109,065", "218,130"]


@pytest.mark.slow
def test_demo_trains_both_models_and_prints_the_comparison(tmp_path, capsys):
    # dssdn_small as registered (the full-band stem and the Haar split) against the field's baseline
    assert DEMO_MODELS == (("dssdn_small", {}), ("dcase2025_baseline", {}))
    assert main(["demo", "--epochs", "1", "--clips", "20", "--repeats", "1", "--sample-rate", "8000", "--n-fft", "256",
                 "--hop-length", "128", "--n-mels", "40", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for name, kwargs in DEMO_MODELS:
        ckpt = torch.load(tmp_path / "demo" / name / "last.pt", map_location="cpu", weights_only=False)
        assert {k: v for k, v in ckpt["model_kwargs"].items() if k != "num_classes"} == kwargs  # what was trained
        if name == "dssdn_small":  # ... and the architecture it was built with
            arch = ckpt["architecture"]
            assert arch["stem"]["kind"] == "conv" and {b["split"] for b in arch["blocks"]} == {"haar"}
        label = model_label(name, kwargs)
        row = re.search(rf"^{re.escape(label)}\s+([\d,]+)\s+([\d,]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+) %", out, re.M)
        assert row is not None, out[-2000:]
        params, fp16 = (int(v.replace(",", "")) for v in row.groups()[:2])
        assert fp16 == 2 * params and 0.0 <= float(row.group(3)) <= 100.0
        assert f"{label}: per-layer MACs and params" in out
    assert "61,148" in out  # the baseline's published size
    assert "chance is 10.0 %" in out
