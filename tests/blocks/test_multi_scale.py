"""The export form of the multi-scale pooling: exact against PyTorch's adaptive average, in eager mode and in an
exported ONNX graph at lengths whose index products pass float32's exact integers."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lightops.blocks.multi_scale import adaptive_avg_exportable


@given(length=st.integers(1, 300), out_len=st.integers(1, 300), seed=st.integers(0, 1000))
def test_equals_adaptive_average_pooling(length, out_len, seed):
    x = torch.randn(2, 3, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(adaptive_avg_exportable(x, 2, out_len), F.adaptive_avg_pool1d(x, out_len))


def test_window_bounds_stay_exact_past_float32_integers():
    # i * length reaches 4e8 here, far past 2^24: float32 bounds would drop or repeat frames
    x = torch.randn(1, 2, 160_003, dtype=torch.float64)
    torch.testing.assert_close(adaptive_avg_exportable(x, 2, 2_501), F.adaptive_avg_pool1d(x, 2_501))


class _Pool(nn.Module):
    """Pools the time axis to a sixteenth of its length, as DSSDN's last block's grid is to its first."""

    def forward(self, x):
        return adaptive_avg_exportable(x, 2, x.shape[2] // 16)


def test_exported_onnx_pools_long_inputs_exactly(tmp_path):
    """Before the bounds were computed in float64, onnxruntime indexed past the end from about 32,000 frames on."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = str(tmp_path / "pool.onnx")
    example = torch.randn(1, 2, 64)
    t = torch.export.Dim("t", min=32, max=2**20)
    torch.onnx.export(_Pool(), (example,), path, dynamo=True, dynamic_shapes=({2: t},), external_data=False,
                      verbose=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for length in (64, 1_000, 40_000, 70_001):
        x = torch.randn(1, 2, length)
        got = session.run(None, {name: x.numpy()})[0]
        np.testing.assert_allclose(got, F.adaptive_avg_pool1d(x, length // 16).numpy(), rtol=1e-4, atol=1e-5)
