"""benchmarks.int8_pools: int8 programs with average pools kept against pools as depthwise convolutions."""
import pytest

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from benchmarks import int8_pools  # noqa: E402
from benchmarks.docs.blocks import read_block  # noqa: E402


@pytest.mark.slow
def test_block_of_the_baseline(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("before\n<!-- BEGIN int8-pools -->\n<!-- END int8-pools -->\nafter\n")
    argv = ["--models", "dcase2025_baseline", "--clips", "1s", "--rounds", "1", "--runs", "2", "--docs", str(page)]
    assert int8_pools.main(argv) == 0
    body = read_block(page, "int8-pools")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in body.splitlines()
            if line.startswith("| dcase2025_baseline")]
    assert sorted(r[2] for r in rows) == ["executorch", "onnxruntime"]
    assert all(float(v) > 0 for r in rows for v in r[3:])
    assert "python -m benchmarks.int8_pools --models dcase2025_baseline" in body
