"""DSSDB behaviour a MAC counter cannot see: which bins feed which path, and the block built alone."""
import pytest
import torch

from lightops.blocks import DSSDB
from lightops.ops import bands
from tests.utils import flop_counter_macs


def _inputs_of(block, sub, x):
    """The input ``sub`` receives while ``block`` runs on ``x``, and the block's output."""
    seen = []
    handle = sub.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        out = block(x)
    handle.remove()
    return seen[0], out


@pytest.mark.parametrize("low_ratio", [0.5, 0.25, 0.75])
def test_deep_path_reads_the_low_bins_and_the_high_path_the_top_ones(low_ratio):
    torch.manual_seed(0)
    block = DSSDB(8, 16, low_ratio=low_ratio).eval()
    x = torch.randn(2, 8, 24, 10)
    fl = bands.low_band_bins(24, low_ratio)
    deep_in, _ = _inputs_of(block, block.refine[0], x)
    high_in, _ = _inputs_of(block, block.high, x)
    assert torch.equal(deep_in, x[:, :, :fl]) and torch.equal(high_in, x[:, :, fl:])


def test_perturbing_the_top_bins_changes_the_output_only_through_the_high_path():
    torch.manual_seed(0)
    block = DSSDB(8, 16).eval()
    x = torch.randn(1, 8, 24, 10)
    y = x.clone()
    y[:, :, 12:] += torch.randn_like(y[:, :, 12:])  # the high band only
    deep_x, out_x = _inputs_of(block, block.refine[0], x)
    deep_y, out_y = _inputs_of(block, block.refine[0], y)
    assert torch.equal(deep_x, deep_y) and not torch.allclose(out_x, out_y)
    block.high = _Zero(16)  # without the high path the top bins no longer matter ...
    with torch.no_grad():
        assert torch.equal(block(x), block(y))
    z = x.clone()
    z[:, :, :12] += 1.0  # ... while the low bins still do
    with torch.no_grad():
        assert not torch.allclose(block(x), block(z))


@pytest.mark.parametrize("f", [24, 25])
def test_stack_join_keeps_each_output_bin_on_one_region_of_the_spectrum(f):
    """``join="stack"``: the high band reaches only the upper output bins; ``"add"`` folds it onto every bin."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, f, 10)
    y = x.clone()
    fl = bands.low_band_bins(f, 0.5)
    y[:, :, fl:] += torch.randn_like(y[:, :, fl:])  # the high band only
    stacked, added = DSSDB(8, 16, attn=None, join="stack").eval(), DSSDB(8, 16, attn=None).eval()
    added.load_state_dict(stacked.state_dict())
    with torch.no_grad():
        changed = (stacked(y) - stacked(x)).abs().amax(dim=(0, 1, 3)) > 0  # per output bin
        folded = (added(y) - added(x)).abs().amax(dim=(0, 1, 3)) > 0
    lower = fl // 2  # output bins pooled from low-band pairs only
    assert stacked(x).shape == added(x).shape == (1, 16, fl, 10)
    assert not changed[:lower].any() and changed[-(f - fl) // 2:].all()
    assert folded.all()


def test_stack_join_is_the_full_band_pooled_in_frequency_order():
    low, high = torch.randn(2, 3, 6, 5), torch.randn(2, 3, 6, 5)
    out = bands.join_bands(low, high, "stack")
    full = torch.cat([low, high], dim=2)
    torch.testing.assert_close(out, (full[:, :, 0::2] + full[:, :, 1::2]) / 2)
    torch.testing.assert_close(bands.join_bands(low, high, "add"), low + high)
    odd = bands.join_bands(torch.randn(1, 2, 4, 3), torch.randn(1, 2, 3, 3), "stack")  # 7 bins -> 4
    assert odd.shape == (1, 2, 4, 3)
    for fl, fh in ((6, 4), (5, 4), (3, 6)):  # other low_ratios: the full band pooled to the low band's size
        assert bands.join_bands(torch.randn(1, 2, fl, 3), torch.randn(1, 2, fh, 3), "stack").shape == (1, 2, fl, 3)
    assert DSSDB(4, 8, low_ratio=0.6, join="stack")(torch.randn(1, 4, 10, 5)).shape == (1, 8, 6, 5)
    with pytest.raises(ValueError, match="how must be one of"):
        bands.join_bands(low, high, "concat")


def test_join_changes_neither_params_nor_macs_and_bad_join_is_named():
    a, b = DSSDB(8, 16), DSSDB(8, 16, join="stack")
    assert a.params() == b.params() == sum(p.numel() for p in b.parameters())
    assert a.macs((8, 24, 10)) == b.macs((8, 24, 10)) == flop_counter_macs(b.eval(), torch.randn(1, 8, 24, 10))
    with pytest.raises(ValueError, match="join must be one of"):
        DSSDB(8, 16, join="fold")


@pytest.mark.parametrize("f", [8, 9, 2])
def test_haar_split_is_pair_means_and_half_differences(f):
    x = torch.randn(2, 3, f, 5)
    low, high = bands.split_haar(x)
    assert low.shape == (2, 3, (f + 1) // 2, 5) and high.shape == (2, 3, f // 2, 5)
    even, odd = x[:, :, 0:2 * (f // 2):2], x[:, :, 1:2 * (f // 2):2]
    torch.testing.assert_close(low[:, :, : f // 2] + high, even)  # the pair comes back exactly
    torch.testing.assert_close(low[:, :, : f // 2] - high, odd)
    if f % 2:
        torch.testing.assert_close(low[:, :, -1], x[:, :, -1])  # the odd top bin alone
    torch.testing.assert_close(bands.join_haar(low, high), low + torch.cat([high, torch.zeros_like(low)], 2)[
        :, :, : low.shape[2]])


@pytest.mark.parametrize("f", [48, 49])
def test_haar_split_keeps_the_output_in_frequency_order(f):
    """``split="haar"``: the third quarter of the spectrum reaches only the output bins around its own pairs (the
    deep path's frequency kernels widen that by a few bins); the paper's bands fold it onto the lowest output bins."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, f, 10)
    y = x.clone()
    y[:, :, 24:36] += torch.randn_like(y[:, :, 24:36])
    haar, band = DSSDB(8, 16, attn=None, split="haar").eval(), DSSDB(8, 16, attn=None).eval()
    band.load_state_dict(haar.state_dict())
    with torch.no_grad():
        moved = (haar(y) - haar(x)).abs().amax(dim=(0, 1, 3)) > 0  # per output bin
        folded = (band(y) - band(x)).abs().amax(dim=(0, 1, 3)) > 0
    changed = moved.nonzero().flatten()
    assert haar(x).shape == band(x).shape == (1, 16, (f + 1) // 2, 10)
    assert changed.min() >= 12 - 4 and changed.max() <= 17 + 4  # pairs 12..17, four 3-tap kernels deep
    assert folded[0] and folded[:12].all()  # bins 24..35 are high-band bins 0..11 of the paper's split


def test_split_changes_neither_params_nor_macs_and_bad_split_is_named():
    a, b = DSSDB(8, 16), DSSDB(8, 16, split="haar")
    assert a.params() == b.params() == sum(p.numel() for p in b.parameters())
    for size in ((8, 24, 10), (8, 25, 10)):
        assert a.macs(size) == b.macs(size) == flop_counter_macs(b.eval(), torch.randn(1, *size))
    assert "split='haar'" in repr(b) and "split" not in repr(a)
    with pytest.raises(ValueError, match="split must be one of"):
        DSSDB(8, 16, split="wavelet")
    for bad in (dict(low_ratio=0.75), dict(join="stack")):
        with pytest.raises(ValueError, match="split='haar' halves the bins"):
            DSSDB(8, 16, split="haar", **bad)


class _Zero(torch.nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.chs = chs

    def forward(self, x):
        return torch.zeros(x.shape[0], self.chs, x.shape[2], x.shape[3])


@pytest.mark.parametrize("attn,low_ratio,distill_ratio,time_pool", [
    (None, 0.25, 0.25, 1), ("cca", 0.75, 1.0, 2), ("eca", 0.5, 0.5, 2), (None, 0.6, 0.75, 1),
])
def test_block_alone_shapes_and_macs(attn, low_ratio, distill_ratio, time_pool):
    torch.manual_seed(0)
    block = DSSDB(12, 20, attn=attn, low_ratio=low_ratio, distill_ratio=distill_ratio, time_pool=time_pool).eval()
    size = (12, 30, 17)
    x = torch.randn(1, *size)
    with torch.no_grad():
        out = block(x)
    assert tuple(out.shape[1:]) == block.output_size(size)
    assert block.distill_chs == max(1, round(distill_ratio * 20))
    assert block.macs(size) == flop_counter_macs(block, x)
    assert block.params() == sum(p.numel() for p in block.parameters())
    if attn is None:
        assert isinstance(block.attn, torch.nn.Identity)


def test_activation_choice_changes_the_block():
    torch.manual_seed(0)
    relu = DSSDB(8, 16, act_layer="relu").eval()
    gelu = DSSDB(8, 16, act_layer="gelu").eval()
    gelu.load_state_dict(relu.state_dict())
    x = torch.randn(1, 8, 16, 10)
    with torch.no_grad():
        assert not torch.allclose(relu(x), gelu(x))
    assert any(type(m).__name__ == "GELU" for m in gelu.modules())


@pytest.mark.parametrize("high_op", ["sc", "osc", "spc"])
def test_high_op_reaches_the_output_through_local_frequency_filters(high_op):
    """``high_op``: one high-band bin changes its own output bin and its neighbours (the operator's frequency
    kernel); the paper's 1x1 changes that one output bin only."""
    torch.manual_seed(0)
    f, fl = 24, 12
    x = torch.randn(1, 8, f, 10)
    y = x.clone()
    y[:, :, fl + 5] += 1.0  # one bin of the high band
    local, plain = DSSDB(8, 16, attn=None, high_op=high_op).eval(), DSSDB(8, 16, attn=None).eval()
    with torch.no_grad():
        changed = ((local(y) - local(x)).abs().amax(dim=(0, 1, 3)) > 0).nonzero().flatten().tolist()
        one = ((plain(y) - plain(x)).abs().amax(dim=(0, 1, 3)) > 0).nonzero().flatten().tolist()
    assert one == [5] and changed == [4, 5, 6]


@pytest.mark.parametrize("high_op", ["sc", "spc"])
def test_high_op_params_and_macs_follow_the_operator(high_op):
    from lightops import create_op

    block, plain = DSSDB(12, 20, high_op=high_op), DSSDB(12, 20)
    size = (12, 30, 17)
    op = create_op(high_op, 12, 20, norm_layer="batchnorm2d")
    fh = 30 - bands.low_band_bins(30, 0.5)
    assert block.params() == sum(p.numel() for p in block.parameters())
    assert block.params() - plain.params() == op.params() - (12 * 20 + 2 * 20)
    assert block.macs(size) == flop_counter_macs(block.eval(), torch.randn(1, *size))
    assert block.macs(size) - plain.macs(size) == op.macs((12, fh, 17)) - 12 * 20 * fh * 17
    assert "high_op='sc'" in repr(DSSDB(4, 8, high_op="sc")) and "high_op" not in repr(plain)
    with pytest.raises(ValueError, match="(?i)unknown op|not a registered|op"):
        DSSDB(8, 16, high_op="nope")
