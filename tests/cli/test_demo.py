"""`lightops demo` (the README's main job) trains dssdn_small and the DCASE 2025 baseline side by side."""
import re

import pytest

from lightops.cli import main
from lightops.cli.demo import DEMO_MODELS


@pytest.mark.slow
def test_demo_trains_both_models_and_prints_the_comparison(tmp_path, capsys):
    assert DEMO_MODELS == ("dssdn_small", "dcase2025_baseline")
    assert main(["demo", "--epochs", "1", "--clips", "20", "--repeats", "1", "--sample-rate", "8000", "--n-fft", "256",
                 "--hop-length", "128", "--n-mels", "40", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    for name in DEMO_MODELS:
        assert (tmp_path / "demo" / name / "last.pt").is_file()
        row = re.search(rf"^{name}\s+([\d,]+)\s+([\d,]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+) %", out, re.M)
        assert row is not None, out[-2000:]
        params, fp16 = (int(v.replace(",", "")) for v in row.groups()[:2])
        assert fp16 == 2 * params and 0.0 <= float(row.group(3)) <= 100.0
        assert f"{name}: per-layer MACs and params" in out
    assert "61,148" in out  # the baseline's published size
    assert "chance is 10.0 %" in out
