"""Operator behaviour a MAC counter cannot see: SPC's channel split with in != out, the activation choice."""
import math

import pytest
import torch

import lightops
from lightops.ops import SeparablePartialConv2d


@pytest.mark.parametrize("in_chs,out_chs,ratio,stride", [(12, 20, 0.25, 1), (20, 12, 0.25, (2, 1)), (9, 16, 0.5, 1),
                                                         (16, 16, 0.25, 2)])
def test_spc_against_an_independent_split(in_chs, out_chs, ratio, stride):
    torch.manual_seed(0)
    op = SeparablePartialConv2d(in_chs, out_chs, ratio=ratio, stride=stride).eval()
    part = math.ceil(ratio * in_chs)  # the convolved channels come from the INPUT count
    assert op.part_chs == part and op.sc.in_chs == part
    x = torch.randn(2, in_chs, 12, 10)
    s_f, s_t = op.stride
    with torch.no_grad():
        ref = torch.cat([op.sc(x[:, :part]), x[:, part:, ::s_f, ::s_t]], dim=1)  # (B, Cin, F', T')
        if in_chs != out_chs:
            ref = torch.nn.functional.conv2d(ref, op.proj.weight)
        assert torch.allclose(op(x), ref, atol=1e-6)
        if in_chs == out_chs and op.stride == (1, 1):
            assert torch.equal(op(x)[:, part:], x[:, part:])  # the rest passes through untouched


@pytest.mark.parametrize("name", lightops.list_ops())
def test_activation_choice_changes_the_operator(name):
    torch.manual_seed(0)
    relu = lightops.create_op(name, 8, 8, act_layer="relu").eval()
    gelu = lightops.create_op(name, 8, 8, act_layer="gelu").eval()
    gelu.load_state_dict(relu.state_dict())
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        a, b = relu(x), gelu(x)
    assert not torch.allclose(a, b) and (a >= 0).all() and (b < 0).any()


@pytest.mark.parametrize("in_chs,out_chs,stride", [(16, 16, 1), (12, 20, (2, 1)), (5, 5, 2)])
def test_spc_as_full_width_equals_the_operator(in_chs, out_chs, stride):
    """The full-width chain (no split, no concatenation) of an SPC with its depthwise pair, exactly."""
    torch.manual_seed(0)
    op = SeparablePartialConv2d(in_chs, out_chs, stride=stride, bias=True, act_layer="relu").eval()
    chain = op.as_full_width()
    assert chain[0].in_channels == chain[0].out_channels == in_chs and chain[1].chs == in_chs
    x = torch.randn(2, in_chs, 11, 9)
    with torch.no_grad():
        assert torch.allclose(chain(x), op(x), atol=1e-6)
    with pytest.raises(ValueError, match="fold the output norm"):
        SeparablePartialConv2d(8, 8, norm_layer="batchnorm2d").as_full_width()


@pytest.mark.parametrize("in_chs,out_chs,stride", [(16, 16, 1), (12, 20, (2, 1)), (8, 8, 2)])
def test_spc_as_grouped_equals_the_operator_at_a_quarter_of_the_1x1(in_chs, out_chs, stride):
    """The grouped chain: ``Cin / Cp`` groups, ``Cin Cp`` weights in its 1x1 instead of ``Cin^2``, the same output."""
    torch.manual_seed(0)
    op = SeparablePartialConv2d(in_chs, out_chs, stride=stride, bias=True, act_layer="relu").eval()
    chain = op.as_grouped()
    cp = op.part_chs
    assert chain[0].groups == in_chs // cp and chain[0].weight.shape == (in_chs, cp, 1, 1)
    x = torch.randn(2, in_chs, 11, 9)
    with torch.no_grad():
        assert torch.allclose(chain(x), op(x), atol=1e-6)
        assert torch.allclose(chain(x), op.as_full_width()(x), atol=1e-6)
    with pytest.raises(ValueError, match="to divide Cin"):
        SeparablePartialConv2d(5, 5).as_grouped()  # Cp = 2 does not divide 5
    assert not SeparablePartialConv2d(5, 5).can_group() and SeparablePartialConv2d(16, 16).can_group()
