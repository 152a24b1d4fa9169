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
