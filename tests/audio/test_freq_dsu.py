"""Freq-DSU's own properties with hypothesis, and the covariance its draws follow (the properties it shares with
Freq-MixStyle: tests/audio/test_freq_mixstyle.py)."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lightops.audio import FreqDSU
from tests.audio.common import shapes
from tests.audio.common import style_batch as _batch


def _stats(x):
    """Per-example, per-bin mean and log std over (C, T), as (B, 2F)."""
    return torch.cat([x.mean(dim=(1, 3)), 0.5 * torch.log(x.var(dim=(1, 3), correction=0))], dim=1)


@given(shape=shapes, seed=st.integers(0, 10_000))
def test_only_the_per_bin_statistics_change_and_within_the_batch_span(shape, seed):
    x = _batch(shape, seed, torch.float64)
    dsu = FreqDSU(p=1.0, factor=0.7).train()
    dsu.generator = torch.Generator().manual_seed(seed)
    out = dsu(x)
    # the normalised shape of every bin is kept: only its mean and spread move
    norm = lambda v: (v - v.mean(dim=(1, 3), keepdim=True)) / v.std(dim=(1, 3), correction=0, keepdim=True)  # noqa: E731
    torch.testing.assert_close(norm(out), norm(x), atol=1e-8, rtol=1e-6)
    # every example's shift of its statistics is a combination of the batch's own deviations
    s = _stats(x)
    dev = s - s.mean(dim=0, keepdim=True)
    shift = _stats(out) - s
    coef = torch.linalg.lstsq(dev.T, shift.T).solution
    torch.testing.assert_close(dev.T @ coef, shift.T, atol=1e-3 * (1 + shift.abs().max().item()), rtol=0)  # eps aside


def test_draws_follow_the_batch_covariance_scaled_by_factor():
    x = _batch((6, 1, 4, 50), 1, torch.float64)
    s = _stats(x)
    cov = torch.cov((s - s.mean(dim=0)).T)  # (2F, 2F): the batch's covariance of its statistics
    dsu = FreqDSU(p=1.0, factor=0.5).train()
    dsu.generator = torch.Generator().manual_seed(0)
    shifts = torch.stack([(_stats(dsu(x)) - s)[2] for _ in range(4000)])  # one example's shift over many draws
    torch.testing.assert_close(shifts.mean(dim=0), torch.zeros(8, dtype=torch.float64), atol=0.08, rtol=0)
    est = torch.cov(shifts.T)
    torch.testing.assert_close(est, 0.25 * cov, atol=0.1 * 0.25 * cov.abs().max(), rtol=0)
    # a bin and its spread move together when they do across the batch (correlated, not independent per bin)
    assert est.diagonal().min() > 0 and (est - est.diagonal().diag()).abs().max() > 0.2 * est.diagonal().max()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"p must be a number in \[0.0, 1.0\]"):
        FreqDSU(p=1.5)
    with pytest.raises(ValueError, match=r"factor must be a number in \(0.0, inf"):
        FreqDSU(factor=0)
    with pytest.raises(TypeError, match="p must be a number"):
        FreqDSU(p=True)
    with pytest.raises(ValueError, match="4-D"):
        FreqDSU()(torch.zeros(2, 8, 10))
