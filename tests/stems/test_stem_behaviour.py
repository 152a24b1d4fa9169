"""Stems: the conv stem reads every bin; the high/low stem's bands land where they belong."""
import pytest
import torch

from lightops.ops import bands
from lightops.stems import create_stem
from tests.utils import flop_counter_macs


def test_conv_stem_shapes_macs_and_all_bins():
    torch.manual_seed(0)
    stem = create_stem("conv", 1, 8).eval()
    x = torch.randn(1, 1, 32, 20)
    with torch.no_grad():
        out = stem(x)
        assert tuple(out.shape[1:]) == stem.output_size((1, 32, 20)) == (8, 16, 10)
        assert stem.macs((1, 32, 20)) == flop_counter_macs(stem, x)
        y = x.clone()
        y[:, :, -4:] += 3.0  # the top bins matter to a plain convolution
        assert not torch.allclose(stem(y), out)


def test_highlow_stem_keeps_low_bins_first_and_routes_the_top_bins_to_the_high_path():
    torch.manual_seed(0)
    stem = create_stem("highlow", 1, 8, low_ratio=0.5).eval()
    x = torch.randn(1, 1, 32, 20)
    fl = bands.low_band_bins(32, 0.5)
    y = x.clone()
    y[:, :, fl:] += torch.randn_like(y[:, :, fl:])
    with torch.no_grad():
        a, b = stem(x), stem(y)
    low_out = (fl + 1) // 2  # the low band's output bins come first (stride 2)
    assert torch.equal(a[:, :, :low_out], b[:, :, :low_out]) and not torch.allclose(a[:, :, low_out:],
                                                                                    b[:, :, low_out:])


@pytest.mark.parametrize("kind,path", [("cut", "conv"), ("highlow", "low")])
def test_top_bins_do_not_reach_the_low_path(kind, path):
    torch.manual_seed(0)
    stem = create_stem(kind, 1, 8).eval()
    seen = []
    getattr(stem, path).register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.randn(1, 1, 32, 20)
    with torch.no_grad():
        stem(x)
    assert torch.equal(seen[0], x[:, :, :seen[0].shape[2]]) and seen[0].shape[2] < 32


@pytest.mark.parametrize("kind", ["conv", "cut", "highlow"])
def test_stem_pads_its_output_with_zero_channels(kind):
    """A stem in inference form (norms folded) writes always-zero extra channels for the channel alignment."""
    from lightops.deploy import fuse

    torch.manual_seed(0)
    stem = fuse(create_stem(kind, 1, 24).eval())
    x = torch.randn(2, 1, 32, 20)
    with torch.no_grad():
        ref = stem(x)
        assert stem.can_pad_output()
        stem.pad_output(32)
        out = stem(x)
    assert out.shape[1] == 32 and torch.allclose(out[:, :24], ref) and not out[:, 24:].any()
    assert not create_stem(kind, 1, 24).eval().can_pad_output()  # a norm left: no padding
