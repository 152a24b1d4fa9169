"""FilterAugment: the gain curves it draws and what it does to a log-mel batch (hypothesis properties)."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lightops.audio import FilterAugment, filter_gains_db

seeds = st.integers(0, 10_000)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@given(batch=st.integers(1, 4), bins=st.integers(1, 80), n=st.integers(1, 8), width=st.integers(1, 8),
       lo=st.floats(-20, 0), span=st.floats(0, 30), seed=seeds)
def test_step_gains_are_bands_of_their_range(batch, bins, n, width, lo, span, seed):
    g = filter_gains_db(batch, bins, n, db_range=(lo, lo + span), min_bandwidth=width, kind="step",
                        generator=_gen(seed))
    assert g.shape == (batch, bins)
    assert (g >= lo - 1e-4).all() and (g <= lo + span + 1e-4).all()
    runs_expected = min(n, bins)
    for row in g:  # piecewise constant: at most n runs of equal values, none narrower than the bandwidth that fits
        change = torch.nonzero(row[1:] != row[:-1]).flatten() + 1
        edges = [0, *change.tolist(), bins]
        assert len(edges) - 1 <= runs_expected
        narrowest = min(b - a for a, b in zip(edges[:-1], edges[1:]))
        assert narrowest >= max(1, min(width, bins // runs_expected))


@given(batch=st.integers(1, 4), bins=st.integers(2, 80), n=st.integers(1, 8), width=st.integers(1, 8), seed=seeds)
def test_linear_gains_are_piecewise_linear_and_continuous(batch, bins, n, width, seed):
    g = filter_gains_db(batch, bins, n, db_range=(-6.0, 6.0), min_bandwidth=width, generator=_gen(seed))
    assert g.shape == (batch, bins) and (g.abs() <= 6.0 + 1e-4).all()
    second = g[:, 2:] - 2 * g[:, 1:-1] + g[:, :-2]  # zero except at the knots
    kinks = (second.abs() > 1e-4).sum(dim=1)
    assert (kinks <= min(n, bins) - 1).all()
    # continuous: no step larger than the steepest slope a band of the narrowest width allows
    w = max(1, min(width, bins // min(n, bins)))
    assert ((g[:, 1:] - g[:, :-1]).abs() <= 12.0 / max(w - 1, 1) + 1e-4).all()


@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 2), st.integers(2, 40), st.integers(1, 9)), seed=seeds,
       scale=st.floats(0.01, 2.0), kind=st.sampled_from(["linear", "step"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_one_gain_curve_per_example_scaled_to_input_units(shape, seed, scale, kind, dtype):
    x = torch.randn(shape, generator=_gen(seed), dtype=dtype)
    aug = FilterAugment(db_range=(-6, 6), kind=kind, db_scale=scale, generator=_gen(seed)).train()
    d = aug(x) - x
    assert d.dtype == dtype and d.shape == x.shape
    assert torch.allclose(d, d[:, :1, :, :1].expand_as(d), atol=1e-6)  # same over channels and frames
    assert (d.abs() <= 6 * scale + 1e-5).all()


def test_reproducible_from_a_generator_and_varied_across_examples():
    x = torch.zeros(8, 1, 64, 3)
    a = FilterAugment(generator=_gen(3)).train()(x)
    b = FilterAugment(generator=_gen(3)).train()(x)
    assert torch.equal(a, b)
    curves = a[:, 0, :, 0]
    assert curves.abs().max() > 1.0 and not torch.allclose(curves[0], curves[1])


def test_identity_in_eval_at_p0_and_on_unchosen_examples():
    x = torch.randn(64, 1, 32, 4, generator=_gen(0))
    assert torch.equal(FilterAugment(p=1.0).eval()(x), x)
    assert torch.equal(FilterAugment(p=0.0).train()(x), x)
    out = FilterAugment(p=0.5, generator=_gen(1)).train()(x)
    changed = (out != x).flatten(1).any(dim=1)
    assert 10 < int(changed.sum()) < 54  # about half of the examples


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p"):
        FilterAugment(p=1.5)
    with pytest.raises(ValueError, match="db_range"):
        FilterAugment(db_range=(6, -6))
    with pytest.raises(ValueError, match="n_bands"):
        FilterAugment(n_bands=(0, 3))
    with pytest.raises(ValueError, match="kind"):
        FilterAugment(kind="cosine")
    with pytest.raises(ValueError, match="4-D"):
        FilterAugment().train()(torch.zeros(2, 8, 10))
