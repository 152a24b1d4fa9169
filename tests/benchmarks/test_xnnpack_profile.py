"""benchmarks.xnnpack_profile: XNNPACK's per-operator times of the fp32 and int8 programs, by kind and by class."""
import pytest

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from benchmarks import xnnpack_profile  # noqa: E402
from benchmarks.docs.blocks import read_block  # noqa: E402


def test_operator_class_drops_layout_and_data_type():
    assert xnnpack_profile.operator_class("Convolution (NHWC, QC8) DWConv") == "Convolution DWConv"
    assert xnnpack_profile.operator_class("Fully Connected (NC, QS8, QC8W) GEMM") == "Fully Connected GEMM"
    assert xnnpack_profile.operator_class("Add (ND)") == "Add"


@pytest.mark.slow
def test_block_of_a_tiny_model(tmp_path):
    page = tmp_path / "deploy.md"
    page.write_text("before\n<!-- BEGIN xnnpack-profile -->\n<!-- END xnnpack-profile -->\nafter\n")
    assert xnnpack_profile.main(["--models", "dssdn_tiny", "--runs", "2", "--docs", str(page)]) == 0
    body = read_block(page, "xnnpack-profile")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in body.splitlines() if line.startswith("| dssdn")]
    kinds = {(r[1], r[2]) for r in rows if len(r) == 6}
    # the fp32 program's convolutions are fp32 kernels, the int8 program's int8 ones
    assert ("fp32", "Convolution (NHWC, F32) DWConv") in kinds and ("int8", "Convolution (NHWC, QC8) DWConv") in kinds
    totals = {r[1]: r for r in rows if len(r) == 6 and r[2].startswith("**all operators**")}
    assert set(totals) == {"fp32", "int8"} and all(int(r[3]) > 20 and float(r[4]) > 0 for r in totals.values())
    # every operator of a program is in its rows (the shown kinds and the "other kinds" row add up to the total)
    for dtype, total in totals.items():
        parts = [r for r in rows if len(r) == 6 and r[1] == dtype and not r[2].startswith("**")]
        assert sum(int(r[3]) for r in parts) == int(total[3])
    classes = {r[1]: r for r in rows if len(r) == 7}
    assert float(classes["Convolution DWConv"][6]) > 0 and classes["Convert"][2] == "0"
    assert "python -m benchmarks.xnnpack_profile --models dssdn_tiny --runs 2" in body
