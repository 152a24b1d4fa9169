"""Every registered operator's inference form computes its forward; a user's operator is checked the same way."""
import pytest
import torch
import torch.nn as nn

import lightops
from lightops.deploy import fuse
from lightops.ops import ConvChain, DepthwiseConv3x3, SeparableOpBase
from tests.deploy.conftest import randomize_norms
from tests.utils import flop_counter_macs

RTOL = 1e-5  # relative to the output's largest magnitude
VARIANTS = [(name, {}) for name in lightops.list_ops()] + [("osc", {"orthogonal": "exact"})]
IDS = lightops.list_ops() + ["osc-exact"]


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a - b).abs().max().item() <= RTOL * max(1.0, b.abs().max().item())


def check_inference_form(name: str, **kwargs) -> nn.Module:
    """The registered operator ``name`` (norm with trained statistics, activation, bias, strided, dilated) and its
    inference form (``fuse``: norm folded, children in their forms, then its ``inference_form()``) agree; returns
    the form."""
    torch.manual_seed(0)
    for in_chs, out_chs, stride, dilation in ((12, 20, 1, 1), (16, 16, (2, 1), (1, 2)), (5, 5, 2, 2)):
        op = lightops.create_op(name, in_chs, out_chs, stride=stride, dilation=dilation, bias=True,
                                norm_layer="batchnorm2d", act_layer="relu", **kwargs)
        op = randomize_norms(op).eval()
        form = fuse(op)
        for size in ((11, 9), (3, 5)):
            x = torch.randn(2, in_chs, *size)
            with torch.inference_mode():
                ref, out = op(x), form(x)
            assert out.shape == ref.shape and close(out, ref), (name, in_chs, out_chs, stride, size)
        if hasattr(form, "macs"):
            assert form.macs((in_chs, 11, 9)) == flop_counter_macs(form, torch.randn(1, in_chs, 11, 9))
    return form


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=IDS)
def test_inference_form_equals_forward(name, kwargs):
    check_inference_form(name, **kwargs)


@pytest.mark.parametrize("name", ["sc", "osc", "spc"])
@pytest.mark.parametrize("kf", [1, 5])
def test_inference_form_with_other_frequency_kernels(name, kf):
    """A ``freq_kernel`` other than 3: the merged depthwise kernel is ``kf x 3`` (SPC's passed-through channels keep
    their centre tap) and the chain still computes the operator."""
    form = check_inference_form(name, freq_kernel=kf)
    assert {m.kernel_size for m in form if isinstance(m, DepthwiseConv3x3)} == {(kf, 3)}


@pytest.mark.parametrize("name,kwargs", [v for v in VARIANTS if v[0] in ("sc", "osc", "spc")],
                         ids=[i for i, v in zip(IDS, VARIANTS) if v[0] in ("sc", "osc", "spc")])
def test_builtin_operators_run_as_conv_chains(name, kwargs):
    form = check_inference_form(name, **kwargs)
    assert isinstance(form, ConvChain) and all(isinstance(m, (nn.Conv2d, nn.ReLU)) for m in form)


class PointwiseDepthwise(SeparableOpBase):
    """A user's operator: 1x1 then a depthwise 3x3; the base class's ``fold_norm`` folds into ``dw``."""

    def __init__(self, in_chs, out_chs, *, bias=False, **kw):
        super().__init__(in_chs, out_chs, **kw)
        self.pw = nn.Conv2d(self.in_chs, self.out_chs, 1, bias=False)
        self.dw = nn.Conv2d(self.out_chs, self.out_chs, 3, stride=self.stride, padding=self.dilation,
                            dilation=self.dilation, groups=self.out_chs, bias=bias)

    def _conv_params(self):
        return self.in_chs * self.out_chs + 9 * self.out_chs + (self.out_chs if self.dw.bias is not None else 0)

    def macs(self, input_size):
        _, f, t = self.output_size(input_size)
        return self.in_chs * self.out_chs * input_size[1] * input_size[2] + 9 * self.out_chs * f * t

    def _forward(self, x):
        return self.dw(self.pw(x))


class PointwiseDepthwiseChain(PointwiseDepthwise):
    """The same operator bringing its own inference form: its two convolutions as a conv chain."""

    def inference_form(self):
        if not isinstance(self.norm, nn.Identity):
            return self
        return ConvChain(self.pw, self.dw, self.act)


@pytest.mark.parametrize("cls", [PointwiseDepthwise, PointwiseDepthwiseChain])
def test_user_operator_inference_form(cls):
    """A registered user operator is checked like the built-ins: the default form (itself, norm folded) and one it
    writes itself; inside a DSSDB its form is used too."""
    name = f"test_{cls.__name__.lower()}"
    lightops.register_op(name)(cls)
    try:
        form = check_inference_form(name)
        assert isinstance(form, ConvChain if cls is PointwiseDepthwiseChain else cls)
        block = randomize_norms(lightops.blocks.DSSDB(8, 8, op=name)).eval()
        deployed = fuse(block)
        assert isinstance(deployed.op1, type(form))
        x = torch.randn(2, 8, 12, 6)
        with torch.inference_mode():
            assert close(deployed(x), block(x))
    finally:
        from lightops.ops import _registry
        _registry._OPS.pop(name, None)


@pytest.mark.parametrize("in_chs,out_chs", [(16, 16), (12, 20), (5, 5)])
@pytest.mark.parametrize("stride,dilation", [(1, 1), ((2, 1), 1), ((1, 2), (2, 1)), (2, 2)])
def test_partial_conv_as_full_width_chain(in_chs, out_chs, stride, dilation):
    """SPC (projection or folded affine, any stride and dilation) as 1x1 -> depthwise [-> 1x1], exactly."""
    torch.manual_seed(0)
    op = randomize_norms(lightops.create_op("spc", in_chs, out_chs, stride=stride, dilation=dilation, bias=True))
    op.eval()
    fused = fuse(op, deploy_blocks=False)
    chain = fused.as_full_width()
    assert isinstance(chain[0], nn.Conv2d) and chain[0].in_channels == chain[0].out_channels == in_chs
    assert isinstance(chain[1], DepthwiseConv3x3) and chain[1].chs == in_chs
    x = torch.randn(2, in_chs, 11, 9)
    with torch.inference_mode():
        assert close(chain(x), op(x))
    kept = fuse(op, merge_depthwise=False)  # a pair is not a kxk kernel: the operator stays as it is
    assert not isinstance(kept, ConvChain) and kept.inference_form() is kept


@pytest.mark.parametrize("op", ["sc", "osc"])
def test_conv_chain_of_other_operators(op):
    torch.manual_seed(0)
    layer = randomize_norms(lightops.create_op(op, 12, 20, bias=True)).eval()
    chain = fuse(layer, deploy_blocks=False).inference_form()
    assert isinstance(chain, nn.Sequential) and all(isinstance(m, nn.Conv2d) for m in chain)
    x = torch.randn(2, 12, 8, 7)
    with torch.inference_mode():
        assert close(chain(x), layer(x))
