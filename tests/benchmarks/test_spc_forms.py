"""benchmarks.spc_forms: SPC's three inference forms timed in ONNX Runtime and ExecuTorch."""
import pytest

pytest.importorskip("executorch.exir")

from benchmarks import spc_forms  # noqa: E402
from benchmarks.docs.blocks import read_block  # noqa: E402


@pytest.mark.slow
def test_block_of_tiny(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("before\n<!-- BEGIN spc-forms -->\n<!-- END spc-forms -->\nafter\n")
    argv = ["--models", "dssdn_tiny", "--clips", "1s", "--rounds", "1", "--runs", "2", "--docs", str(page)]
    assert spc_forms.main(argv) == 0
    body = read_block(page, "spc-forms")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in body.splitlines() if line.startswith("| dssdn_tiny")]
    assert sorted((r[2], r[3]) for r in rows) == sorted((rt, f) for rt in ("executorch", "onnxruntime")
                                                        for f in spc_forms.FORMS)
    macs = {r[3]: float(r[4].split()[0]) for r in rows}
    assert macs["partial"] < macs["grouped"] < macs["full"]
    assert all(float(r[5]) > 0 for r in rows) and all(r[6] == "1.00" for r in rows if r[3] == "full")
    assert "python -m benchmarks.spc_forms --models dssdn_tiny" in body
