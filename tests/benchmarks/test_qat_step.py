"""benchmarks.qat_step: one row per way of observing QAT's activation ranges, ratios against min/max."""
import pytest

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from benchmarks import qat_step  # noqa: E402
from benchmarks.docs.blocks import read_block  # noqa: E402


@pytest.mark.slow
def test_block_of_a_tiny_model(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("before\n<!-- BEGIN qat-step -->\n<!-- END qat-step -->\nafter\n")
    argv = ["--model", "dssdn_tiny", "--batch-size", "2", "--steps", "2", "--rounds", "1", "--warmup", "0",
            "--docs", str(page)]
    assert qat_step.main(argv) == 0
    body = read_block(page, "qat-step")
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in body.splitlines()
            if line.startswith("| ") and "---" not in line and "activation ranges" not in line}
    assert set(rows) == {"minmax", "histogram, every batch", "histogram, 1 batch in 8"}
    assert float(rows["minmax"][1]) == 1.0 and all(float(ms) > 0 for ms, _ in rows.values())
    assert "python -m benchmarks.qat_step --model dssdn_tiny" in body
