"""Helpers of the batch re-styling tests (Freq-MixStyle, Freq-DSU)."""
import torch
from hypothesis import strategies as st

shapes = st.tuples(st.integers(2, 6), st.integers(1, 2), st.integers(2, 12), st.integers(3, 16))
"""Log-mel batch shapes ``(B, C, F, T)`` with at least two examples."""


def style_batch(shape, seed, dtype=torch.float32):
    """A log-mel batch whose examples have per-bin statistics that differ (scale and shift per example and bin)."""
    gen = torch.Generator().manual_seed(seed)
    b, c, f, t = shape
    scale = torch.rand(b, 1, f, 1, generator=gen) * 5 + 0.5  # per-example, per-bin statistics that differ
    shift = torch.randn(b, 1, f, 1, generator=gen) * 10
    return (torch.randn(shape, generator=gen) * scale + shift).to(dtype)
