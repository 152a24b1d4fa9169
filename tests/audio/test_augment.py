"""SpecAugment masking and mixup."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lightops.audio import SpecAugment, mixup


def _runs(mask: torch.Tensor):
    """Lengths of the runs of True in a 1-D bool tensor."""
    runs, n = [], 0
    for v in mask.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_identity_in_eval():
    aug = SpecAugment(freq_mask=8, time_mask=8).eval()
    x = torch.randn(4, 1, 32, 20)
    assert aug(x) is x


@given(seed=st.integers(0, 2**16), f=st.integers(1, 40), t=st.integers(1, 30), fw=st.integers(0, 12),
       tw=st.integers(0, 12), nf=st.integers(0, 2), nt=st.integers(0, 2))
def test_masks_zero_the_sampled_bands(seed, f, t, fw, tw, nf, nt):
    aug = SpecAugment(freq_mask=fw, time_mask=tw, n_freq_masks=nf, n_time_masks=nt,
                      generator=torch.Generator().manual_seed(seed)).train()
    x = torch.rand(3, 2, f, t) + 1.0  # strictly positive, so zeros are masks
    out = aug(x)
    aug.generator.manual_seed(seed)
    freq, time = aug.sample_masks(tuple(x.shape))
    assert freq.shape == (3, 1, f, 1) and time.shape == (3, 1, 1, t)
    zero = out == 0
    assert torch.equal(zero, (freq | time).expand_as(x))  # exactly the sampled bands, all channels alike
    assert torch.equal(out[~zero], x[~zero])
    for b in range(3):
        f_runs, t_runs = _runs(freq[b, 0, :, 0]), _runs(time[b, 0, 0, :])
        assert len(f_runs) <= nf and sum(f_runs) <= nf * fw  # adjacent or overlapping bands may merge
        assert len(t_runs) <= nt and sum(t_runs) <= nt * tw


def test_full_width_mask_and_mask_value():
    aug = SpecAugment(freq_mask=0, time_mask=10, n_freq_masks=0, n_time_masks=1, mask_value=-80.0,
                      generator=torch.Generator().manual_seed(0)).train()
    x = torch.zeros(64, 1, 4, 10)
    out = aug(x)
    masked_frames = (out == -80.0).all(dim=2)[:, 0]  # (B, T): masks cover whole columns
    assert torch.equal((out == -80.0), masked_frames[:, None, None, :].expand_as(out))
    assert masked_frames.sum(1).max() == 10  # a width-10 mask is drawn now and then in 64 tries
    assert torch.equal(SpecAugment(0, 0).train()(x), x)


def test_masks_differ_per_example():
    aug = SpecAugment(freq_mask=20, time_mask=0, n_time_masks=0, generator=torch.Generator().manual_seed(1)).train()
    out = aug(torch.ones(16, 1, 64, 8))
    assert len({tuple(out[b, 0, :, 0].tolist()) for b in range(16)}) > 1


@pytest.mark.parametrize("kw,exc", [({"freq_mask": -1}, ValueError), ({"time_mask": 1.5}, TypeError),
                                    ({"n_freq_masks": True}, TypeError)])
def test_specaugment_errors(kw, exc):
    with pytest.raises(exc, match=next(iter(kw))):
        SpecAugment(**kw)
    with pytest.raises(ValueError, match=r"\(B, C, F, T\)"):
        SpecAugment()(torch.zeros(2, 3, 4))


@given(seed=st.integers(0, 2**16), b=st.integers(1, 9), k=st.integers(2, 6), alpha=st.floats(0.05, 2.0))
def test_mixup_preserves_label_mass(seed, b, k, alpha):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (b,), generator=gen)
    x = torch.nn.functional.one_hot(y, k).float()[:, None, :, None].expand(b, 1, k, 3)  # (B, 1, K, 3)
    xm, ym = mixup(x, y, alpha, num_classes=k, generator=gen)
    assert xm.shape == x.shape and ym.shape == (b, k)
    torch.testing.assert_close(ym.sum(1), torch.ones(b))  # each row is a distribution
    torch.testing.assert_close(ym.sum(0), torch.bincount(y, minlength=k).float())  # class mass kept
    torch.testing.assert_close(xm[:, 0, :, 0], ym)  # inputs and targets mixed with the same lam and pairs


def test_mixup_soft_targets_smoothing_and_determinism():
    x, y = torch.randn(6, 1, 8, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    a = mixup(x, y, 0.4, num_classes=3, generator=torch.Generator().manual_seed(3))
    b = mixup(x, y, 0.4, num_classes=3, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    xs, ys = mixup(x, y, 0.0, num_classes=3, label_smoothing=0.3)
    assert torch.equal(xs, x)
    torch.testing.assert_close(ys[0], torch.tensor([0.8, 0.1, 0.1]))
    soft = torch.softmax(torch.randn(6, 3), 1)
    _, ym = mixup(x, soft, 1.0)
    torch.testing.assert_close(ym.sum(0), soft.sum(0))


@pytest.mark.parametrize("args,kw,match", [
    ((torch.randn(4, 3), torch.tensor([0, 1, 2, 3])), {}, "num_classes"),
    ((torch.randn(4, 3), torch.tensor([0, 1, 2, 5])), {"num_classes": 4}, r"\[0, 4\)"),
    ((torch.randn(4, 3), torch.tensor([0, 1])), {"num_classes": 4}, "batch"),
    ((torch.zeros(4, 3, dtype=torch.long), torch.tensor([0, 1, 2, 3])), {"num_classes": 4}, "floating"),
    ((torch.randn(4, 3), torch.zeros(4, 2, 2)), {}, r"\(B, K\)"),
])
def test_mixup_errors(args, kw, match):
    with pytest.raises(ValueError, match=match):
        mixup(*args, 0.2, **kw)


def test_timm_mixup_works_on_log_mel_batches():
    """The documented alternative: timm's Mixup accepts (B, 1, F, T) batches and index targets."""
    timm_mixup = pytest.importorskip("timm.data").Mixup
    m = timm_mixup(mixup_alpha=0.3, cutmix_alpha=0.0, label_smoothing=0.0, num_classes=10)
    x, y = torch.randn(4, 1, 256, 44), torch.tensor([0, 3, 3, 9])
    xm, ym = m(x.clone(), y)
    assert xm.shape == x.shape and ym.shape == (4, 10)
    torch.testing.assert_close(ym.sum(0), torch.bincount(y, minlength=10).float())
