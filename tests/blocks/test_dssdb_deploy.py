"""DSSDB's and ECA's inference forms (DeployDSSDB, ChannelGate) compute the same values, and count their own MACs."""
import pytest
import torch
import torch.nn as nn

from lightops.blocks import DSSDB, ECA, ChannelGate, DeployDSSDB
from lightops.deploy import fuse
from tests.deploy.conftest import randomize_norms
from tests.utils import flop_counter_macs

RTOL = 1e-5  # relative to the output's largest magnitude


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a - b).abs().max().item() <= RTOL * max(1.0, b.abs().max().item())


def trained_block(seed: int = 0, **kwargs) -> DSSDB:
    """A DSSDB in eval mode whose norms hold non-trivial statistics."""
    torch.manual_seed(seed)
    return randomize_norms(DSSDB(**kwargs), seed).eval()


BLOCK_CASES = [
    dict(in_chs=12, out_chs=20),  # projection in the first operator, Cd = 10 (not a multiple of 16)
    dict(in_chs=16, out_chs=16, time_pool=2),  # first residual, pooling
    dict(in_chs=8, out_chs=24, op="sc", attn="cca"),
    dict(in_chs=8, out_chs=24, op="osc", attn=None, act_layer="gelu"),
    dict(in_chs=8, out_chs=24, op="osc", op_kwargs={"orthogonal": "exact"}, distill_ratio=0.25),
    dict(in_chs=6, out_chs=12, op="spc", low_ratio=0.75, time_pool=3),
    dict(in_chs=12, out_chs=20, op="spc", join="stack", time_pool=2),
    dict(in_chs=12, out_chs=20, op="osc", high_op="sc", time_pool=2),  # the high band through an operator
    dict(in_chs=16, out_chs=16, high_op="spc"),
    dict(in_chs=12, out_chs=20, split="haar", time_pool=2),  # pair means deep, differences through the 1x1
    dict(in_chs=16, out_chs=16, op="osc", split="haar", high_op="sc"),
]


@pytest.mark.parametrize("kwargs", BLOCK_CASES, ids=[f"case{i}" for i in range(len(BLOCK_CASES))])
@pytest.mark.parametrize("align", [1, 16])
@pytest.mark.parametrize("size", [(9, 7), (16, 10)])
def test_block_parity_shapes_and_macs(kwargs, align, size):
    block = trained_block(**kwargs)
    fused = fuse(block, channel_align=align)
    assert isinstance(fused, DeployDSSDB)
    x = torch.randn(2, kwargs["in_chs"], *size)
    with torch.inference_mode():
        ref, out = block(x), fused(x)
    assert out.shape == ref.shape and close(out, ref)
    in_size = (kwargs["in_chs"], *size)
    assert fused.output_size(in_size) == block.output_size(in_size) == tuple(ref.shape[1:])
    assert fused.macs(in_size) == flop_counter_macs(fused, x[:1])
    if align > 1:  # every tap fills whole channel blocks
        assert fused.merge.in_channels % align == 0 and fused.d0.out_channels % align == 0


@pytest.mark.parametrize("size", [(9, 7), (16, 10)])
def test_haar_split_unfolded_keeps_values_and_the_trained_weights(size):
    """``unfold_haar``: the pair differences as arithmetic before the trained 1x1 (the int8 memory form) instead of
    the speed form's ``(2, 1)`` convolution with twice the weights; the same output either way."""
    block = trained_block(in_chs=12, out_chs=20, split="haar", time_pool=2)
    fused = fuse(block)
    x = torch.randn(2, 12, *size)
    folded_weights = fused.high.weight.numel()
    with torch.inference_mode():
        ref, folded = block(x), fused(x)
        fused.unfold_haar()
        unfolded = fused(x)
    assert fused.high.kernel_size == (1, 1) and 2 * fused.high.weight.numel() == folded_weights
    assert close(folded, ref) and close(unfolded, ref)
    assert fused.macs((12, *size)) == flop_counter_macs(fused, x[:1])


def test_block_keeps_what_it_cannot_rewrite():
    block = trained_block(in_chs=8, out_chs=16)
    assert isinstance(fuse(block, fold_bn=False), DSSDB)  # norms left: the block stays as it is
    x = torch.randn(1, 8, 12, 6)

    class Wrapped(nn.Module):  # a user operator fuse knows nothing about
        def __init__(self, op: nn.Module) -> None:
            super().__init__()
            self.op = op

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.op(t)

    block.last = Wrapped(block.last)
    for align in (1, 16):  # taps are not padded when the last operator is not a plain chain
        fused = fuse(block, channel_align=align)
        assert isinstance(fused, DeployDSSDB) and isinstance(fused.op3, Wrapped)
        with torch.inference_mode():
            assert close(fused(x), block(x))


@pytest.mark.parametrize("chs", [1, 3, 24, 80, 224])
def test_channel_gate_equals_eca(chs):
    torch.manual_seed(0)
    eca = ECA(chs).eval()
    with torch.no_grad():
        eca.conv.weight.normal_()
    gate = ChannelGate(eca)
    x = torch.randn(2, chs, 5, 4)
    with torch.inference_mode():
        assert close(gate(x), eca(x))
    assert gate.macs((chs, 5, 4)) == flop_counter_macs(gate, x[:1])


