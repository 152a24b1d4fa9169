"""benchmarks.int8_forms: the int8 program's stored values and bytes per float form, and what XNNPACK takes."""
import pytest

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from benchmarks import int8_forms  # noqa: E402
from benchmarks.docs.blocks import read_block  # noqa: E402


@pytest.mark.slow
def test_block_of_a_tiny_model(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("before\n<!-- BEGIN int8-forms -->\n<!-- END int8-forms -->\nafter\n")
    assert int8_forms.main(["--model", "dssdn_tiny", "--forms", "memory", "--docs", str(page)]) == 0
    body = read_block(page, "int8-forms")
    assert body.startswith("dssdn_tiny at (1, 256, 65)") and "| memory |" in body and "| speed |" not in body
    row = [line for line in body.splitlines() if line.startswith("| memory |")][0]
    values, nbytes = (int(c.strip().replace(",", "")) for c in row.split("|")[2:4])
    # the model's own weights (63,168, norms folded) and the pooling constants, most of them at 1 byte
    assert abs(values - 63_168) < 0.02 * 63_168 and values < nbytes < 2 * values
    assert "1 delegate(s), 0 portable" in row
