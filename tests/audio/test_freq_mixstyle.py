"""Freq-MixStyle and Freq-DSU, the batch re-styling steps: their shared properties with hypothesis, and
Freq-MixStyle's own (Freq-DSU's: tests/audio/test_freq_dsu.py)."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lightops.audio import FreqDSU, FreqMixStyle
from tests.audio.common import shapes
from tests.audio.common import style_batch as _batch

STEPS = [FreqMixStyle, FreqDSU]


@pytest.mark.parametrize("step", STEPS)
@given(shape=shapes, seed=st.integers(0, 10_000), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_shape_and_dtype_kept(step, shape, seed, dtype):
    out = step(p=1.0).train()(_batch(shape, seed, dtype))
    assert out.shape == shape and out.dtype == dtype and torch.isfinite(out).all()


@pytest.mark.parametrize("step", STEPS)
@given(shape=shapes, seed=st.integers(0, 10_000))
def test_identity_at_p0_in_eval_and_for_one_example(step, shape, seed):
    x = _batch(shape, seed)
    assert torch.equal(step(p=0.0).train()(x), x)
    assert torch.equal(step(p=1.0).eval()(x), x)
    assert torch.equal(step(p=1.0).train()(x[:1]), x[:1])


@given(shape=shapes, seed=st.integers(0, 10_000))
def test_per_bin_statistics_lie_between_the_mixed_examples(shape, seed):
    x = _batch(shape, seed, torch.float64)
    mix = FreqMixStyle(p=1.0).train()
    gen = torch.Generator().manual_seed(seed)
    mix.generator = gen
    out = mix(x)
    mu, sig = x.mean(dim=(1, 3)), x.std(dim=(1, 3), correction=0)  # (B, F)
    out_mu, out_sig = out.mean(dim=(1, 3)), out.std(dim=(1, 3), correction=0)
    # every example's output statistics lie between its own and some other example's (its partner)
    for i in range(shape[0]):
        between_mu = (torch.minimum(mu[i], mu) - 1e-6 <= out_mu[i]) & (out_mu[i] <= torch.maximum(mu[i], mu) + 1e-6)
        lo, hi = torch.minimum(sig[i], sig), torch.maximum(sig[i], sig)
        between_sig = (lo * (1 - 1e-3) - 1e-6 <= out_sig[i]) & (out_sig[i] <= hi * (1 + 1e-3) + 1e-6)
        assert (between_mu & between_sig).all(dim=1).any(), f"example {i}"


@pytest.mark.parametrize("step", STEPS)
def test_reproducible_with_a_generator_and_changes_the_batch(step):
    x = _batch((4, 1, 8, 10), 0)
    a, b = step(p=1.0).train(), step(p=1.0).train()
    a.generator, b.generator = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    ya, yb = a(x), b(x)
    assert torch.equal(ya, yb) and not torch.allclose(ya, x)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"p must be a number in \[0.0, 1.0\]"):
        FreqMixStyle(p=1.5)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0.0, inf"):
        FreqMixStyle(alpha=0)
    with pytest.raises(TypeError, match="p must be a number"):
        FreqMixStyle(p=True)
    with pytest.raises(ValueError, match="4-D"):
        FreqMixStyle()(torch.zeros(2, 8, 10))
