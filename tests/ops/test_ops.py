"""Properties every registered operator must satisfy; a new op is covered the moment it registers."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchinfo import summary

import lightops
from lightops.ops import DepthwisePair, SeparableOpBase
from tests.utils import flop_counter_macs

OPS = lightops.list_ops()


def op_variants():
    """Every registered op, plus OSC in exact mode."""
    cases = [(name, {}) for name in OPS]
    cases.append(("osc", {"orthogonal": "exact"}))
    return cases


VARIANTS = op_variants()
IDS = [n + ("-" + "-".join(f"{v}" for v in kw.values()) if kw else "") for n, kw in VARIANTS]


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
@given(
    batch=st.integers(1, 3),
    in_chs=st.integers(1, 12),
    out_chs=st.integers(1, 12),
    f=st.integers(1, 17),
    t=st.integers(1, 17),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_shape_macs_params(name, kw, batch, in_chs, out_chs, f, t, stride, dilation):
    op = lightops.create_op(name, in_chs, out_chs, stride=stride, dilation=dilation, **kw)
    x = torch.randn(batch, in_chs, f, t)
    with torch.no_grad():
        y = op(x)
    expected = (batch, out_chs, (f - 1) // stride[0] + 1, (t - 1) // stride[1] + 1)
    assert tuple(y.shape) == expected
    assert op.output_size((in_chs, f, t)) == expected[1:]
    assert op.params() == sum(p.numel() for p in op.parameters())
    assert op.macs((in_chs, f, t)) == flop_counter_macs(op, x[:1])


@pytest.mark.parametrize("name", ["sc", "osc", "spc"])
@given(in_chs=st.integers(1, 12), out_chs=st.integers(1, 12), f=st.integers(1, 13), t=st.integers(1, 9),
       kf=st.sampled_from([1, 3, 5]), stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)))
def test_freq_kernel_shape_macs_params(name, in_chs, out_chs, f, t, kf, stride, dilation):
    """``freq_kernel``: the same shapes at every frequency kernel, and the docstring formulas (``kf`` taps over
    frequency, 3 over time) agree with FlopCounterMode and the parameters."""
    op = lightops.create_op(name, in_chs, out_chs, stride=stride, dilation=dilation, freq_kernel=kf)
    x = torch.randn(1, in_chs, f, t)
    with torch.no_grad():
        y = op(x)
    assert tuple(y.shape[1:]) == op.output_size((in_chs, f, t))
    assert op.freq_kernel == kf and (f"freq_kernel={kf}" in repr(op)) == (kf != 3)
    assert op.params() == sum(p.numel() for p in op.parameters())
    assert op.macs((in_chs, f, t)) == flop_counter_macs(op, x)
    pairs = [m for m in op.modules() if isinstance(m, DepthwisePair)]
    assert pairs and all((p.conv_f.kernel_size, p.conv_t.kernel_size) == ((kf, 1), (1, 3)) for p in pairs)


def test_freq_kernel_one_filters_each_bin_alone():
    """``freq_kernel=1``: the output at a bin depends on that bin only (time filters), so the operator adds nothing
    to the frequency receptive field; with 3 the neighbours reach it."""
    for kf, span in ((1, 1), (3, 3)):
        op = lightops.create_op("sc", 4, 4, freq_kernel=kf)
        x = torch.randn(1, 4, 9, 5, requires_grad=True)
        op(x)[0, :, 4, 2].sum().backward()
        bins = (x.grad[0].abs().sum((0, 2)) > 0).nonzero().flatten()
        assert bins.max() - bins.min() + 1 == span


@pytest.mark.parametrize("kf", [0, 2, -1, 1.0, True])
def test_bad_freq_kernel_named(kf):
    with pytest.raises(ValueError, match="freq_kernel must be an odd int >= 1"):
        lightops.create_op("spc", 8, 8, freq_kernel=kf)


@pytest.mark.parametrize("name", OPS)
@given(in_chs=st.integers(1, 16), out_chs=st.integers(1, 16), f=st.integers(1, 12), t=st.integers(1, 12),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 2)))
def test_macs_match_torchinfo(name, in_chs, out_chs, f, t, stride):
    """torchinfo counts plain (bias-free, non-parametrized) convolutions right: it must agree."""
    op = lightops.create_op(name, in_chs, out_chs, stride=stride)
    stats = summary(op, input_size=(1, in_chs, f, t), verbose=0, device="cpu")
    assert stats.total_mult_adds == op.macs((in_chs, f, t))
    assert stats.trainable_params == op.params()


def test_reference_figures():
    """The figures quoted in docs/ops.md for in = out = 64 on (64, 64, 108)."""
    size = (64, 64, 108)
    sc, osc, spc = (lightops.create_op(n, 64, 64) for n in ("sc", "osc", "spc"))
    assert (sc.params(), sc.macs(size)) == (64 * 64 + 6 * 64, (64 * 64 + 6 * 64) * 64 * 108)
    assert osc.mid_chs == 16 and osc.params() == 16 * 128 + 6 * 64
    assert spc.part_chs == 16 and spc.params() == 16 * 16 + 6 * 16
    assert (sc.macs(size), osc.macs(size), spc.macs(size)) == (30_965_760, 16_809_984, 2_433_024)


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_gradients_reach_every_parameter(name, kw):
    op = lightops.create_op(name, 6, 5, stride=(2, 1), **kw)
    op(torch.randn(2, 6, 7, 9)).square().sum().backward()
    for pname, p in op.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_gradcheck_float64(name, kw):
    op = lightops.create_op(name, 3, 4, dilation=(1, 2), bias=True, **kw).double()
    x = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(op, (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", OPS)
def test_bias_norm_act_options(name):
    op = lightops.create_op(name, 8, 8, bias=True, norm_layer="batchnorm2d", act_layer="relu")
    assert op.params() == sum(p.numel() for p in op.parameters())
    y = op.train()(torch.randn(2, 8, 5, 6))
    assert (y >= 0).all()
    bare = lightops.create_op(name, 8, 8)
    assert isinstance(bare.norm, torch.nn.Identity) and isinstance(bare.act, torch.nn.Identity)


# ---- SPC ---------------------------------------------------------------------------------------------------

@given(chs=st.integers(2, 16), ratio=st.sampled_from([0.25, 0.5, 0.75]), f=st.integers(1, 9), t=st.integers(1, 9))
def test_spc_untouched_channels_bit_identical(chs, ratio, f, t):
    spc = lightops.SPC(chs, chs, ratio=ratio)
    x = torch.randn(2, chs, f, t)
    with torch.no_grad():
        y = spc(x)
        cp = math.ceil(ratio * chs)
        assert torch.equal(y[:, cp:], x[:, cp:])
        assert torch.equal(y[:, :cp], spc.sc(x[:, :cp]))
        standalone = lightops.SC(cp, cp)
        standalone.load_state_dict(spc.sc.state_dict())
        assert torch.equal(y[:, :cp], standalone(x[:, :cp]))


def test_spc_strided_untouched_channels_are_decimated():
    spc = lightops.SPC(8, 8, ratio=0.25, stride=(2, 3))
    x = torch.randn(1, 8, 9, 10)
    with torch.no_grad():
        assert torch.equal(spc(x)[:, 2:], x[:, 2:, ::2, ::3])


def test_spc_projection_when_channels_change():
    spc = lightops.SPC(8, 12)
    assert isinstance(spc.proj, torch.nn.Conv2d)
    assert spc(torch.randn(1, 8, 4, 4)).shape == (1, 12, 4, 4)


# ---- OSC orthonormality -------------------------------------------------------------------------------------

def _gram_error(w):
    return (w @ w.t() - torch.eye(w.shape[0], dtype=w.dtype)).abs().max().item()


@pytest.mark.parametrize("in_chs,out_chs", [(16, 16), (8, 32), (4, 4), (64, 64), (2, 8)])
def test_osc_exact_is_orthonormal_at_init_and_after_steps(in_chs, out_chs):
    osc = lightops.OSC(in_chs, out_chs, orthogonal="exact")
    assert osc.ortho_weight().shape == (osc.mid_chs, in_chs)
    assert _gram_error(osc.ortho_weight()) < 1e-5
    opt = torch.optim.Adam(osc.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        osc(torch.randn(2, in_chs, 5, 5)).square().mean().backward()
        opt.step()
    assert _gram_error(osc.ortho_weight().detach()) < 1e-5


def test_osc_soft_reg_loss_zero_for_orthonormal_rows():
    osc = lightops.OSC(32, 32)
    q, _ = torch.linalg.qr(torch.randn(32, osc.mid_chs))  # (32, m) with orthonormal columns
    with torch.no_grad():
        osc.reduce.weight.copy_(q.t().reshape_as(osc.reduce.weight))
    assert osc.ortho_weight().shape == (osc.mid_chs, 32)
    assert osc.reg_loss().item() < 1e-5
    with torch.no_grad():
        osc.reduce.weight.mul_(1.5)
    assert osc.reg_loss().item() > 0.1


def test_osc_soft_descent_reaches_orthonormality():
    torch.manual_seed(0)
    osc = lightops.OSC(48, 48)
    assert osc.reg_loss().item() > 0.1
    # ||.||_F (not squared) has unit-norm gradients, so the step size must decay to settle at 0.
    opt = torch.optim.SGD(osc.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300)
    for _ in range(300):
        opt.zero_grad()
        osc.reg_loss().backward()
        opt.step()
        sched.step()
    assert osc.reg_loss().item() < 1e-3


def test_ortho_reg_loss_sums_soft_oscs():
    model = torch.nn.Sequential(lightops.OSC(16, 16), lightops.SC(16, 16), lightops.OSC(16, 8),
                                lightops.OSC(8, 8, orthogonal="exact"))
    expected = 0.1 * (model[0].reg_loss() + model[2].reg_loss())
    assert torch.allclose(lightops.ortho_reg_loss(model), expected)
    assert torch.allclose(lightops.ortho_reg_loss(model, alpha=1.0), expected * 10)
    assert lightops.ortho_reg_loss(torch.nn.Sequential(lightops.SC(4, 4))).item() == 0.0
    lightops.ortho_reg_loss(model).backward()
    assert model[0].reduce.weight.grad is not None


def test_osc_mid_width_formula():
    assert lightops.OSC(64, 64).mid_chs == 16
    assert lightops.OSC(64, 64, p=0.5).mid_chs == 32
    assert lightops.OSC(8, 8).mid_chs == 4  # min_mid_chs
    assert lightops.OSC(2, 8).mid_chs == 2  # clamped to in_chs so rows can be orthonormal
    assert lightops.OSC(64, 64, min_mid_chs=20).mid_chs == 20


# ---- registry ----------------------------------------------------------------------------------------------

def test_registry_lists_builtins_and_aliases():
    assert {"sc", "osc", "spc"} <= set(OPS)
    assert lightops.SC is lightops.SeparableConv2d
    assert lightops.OSC is lightops.OrthoSeparableConv2d
    assert lightops.SPC is lightops.SeparablePartialConv2d
    assert isinstance(lightops.create_op("SC", 4, 4), lightops.SC)


def test_user_op_registers_and_builds():
    @lightops.register_op("test_plain_dw")
    class PlainDw(SeparableOpBase):
        """1x1 then depthwise 3x3. Params: Cin*Cout + 9*Cout. MACs: Cin*Cout*F*T + 9*Cout*F'*T'."""

        def __init__(self, in_chs, out_chs, **kw):
            bias = kw.pop("bias", False)
            super().__init__(in_chs, out_chs, **kw)
            self.pw = torch.nn.Conv2d(in_chs, out_chs, 1, bias=False)
            self.dw = torch.nn.Conv2d(out_chs, out_chs, 3, self.stride, padding=self.dilation,
                                      dilation=self.dilation, groups=out_chs, bias=bias)

        def _conv_params(self):
            return self.in_chs * self.out_chs + 9 * self.out_chs

        def macs(self, input_size):
            _, f, t = input_size
            _, f1, t1 = self.output_size(input_size)
            return self.in_chs * self.out_chs * f * t + 9 * self.out_chs * f1 * t1

        def _forward(self, x):
            return self.dw(self.pw(x))

    try:
        assert "test_plain_dw" in lightops.list_ops()
        op = lightops.create_op("test_plain_dw", 4, 6, stride=2)
        x = torch.randn(1, 4, 7, 7)
        assert op(x).shape == (1, 6, 4, 4)
        assert op.macs((4, 7, 7)) == flop_counter_macs(op, x)
        with pytest.raises(ValueError, match="already registered"):
            lightops.register_op("test_plain_dw")(lightops.SC)
    finally:
        from lightops.ops import _registry
        _registry._OPS.pop("test_plain_dw", None)


# ---- bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", OPS)
def test_bad_forward_input(name):
    op = lightops.create_op(name, 4, 4)
    with pytest.raises(ValueError, match=r"4-D input \(B, C, F, T\)"):
        op(torch.randn(4, 5, 6))
    with pytest.raises(ValueError, match="C=4"):
        op(torch.randn(1, 3, 5, 6))
    with pytest.raises(ValueError, match="F >= 1"):
        op(torch.randn(1, 4, 0, 6))


@pytest.mark.parametrize("name", OPS)
def test_bad_constructor_arguments(name):
    with pytest.raises(ValueError, match="in_chs"):
        lightops.create_op(name, 0, 4)
    with pytest.raises(ValueError, match="out_chs"):
        lightops.create_op(name, 4, -1)
    with pytest.raises(TypeError, match="in_chs"):
        lightops.create_op(name, 4.0, 4)
    with pytest.raises(ValueError, match="stride"):
        lightops.create_op(name, 4, 4, stride=0)
    with pytest.raises(TypeError, match="dilation"):
        lightops.create_op(name, 4, 4, dilation=(1, 2, 3))
    with pytest.raises(TypeError, match="unexpected keyword"):
        lightops.create_op(name, 4, 4, no_such_option=1)


@pytest.mark.parametrize("name", OPS)
def test_bad_input_size_for_macs(name):
    op = lightops.create_op(name, 4, 4)
    with pytest.raises(ValueError, match="in_chs=4"):
        op.macs((3, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        op.macs((4, 0, 8))
    with pytest.raises(ValueError, match=r"\(C, F, T\)"):
        op.macs((8, 8))


@pytest.mark.parametrize("kw,match", [({"ratio": 0.0}, "ratio"), ({"ratio": 1.5}, "ratio"), ({"ratio": -1}, "ratio")])
def test_spc_ratio_range(kw, match):
    with pytest.raises(ValueError, match=match):
        lightops.SPC(8, 8, **kw)


@pytest.mark.parametrize("kw,exc", [({"p": 0}, ValueError), ({"p": 2.0}, ValueError), ({"min_mid_chs": 0}, ValueError),
                                    ({"orthogonal": "hard"}, ValueError), ({"p": "x"}, TypeError)])
def test_osc_bad_options(kw, exc):
    with pytest.raises(exc, match=next(iter(kw))):
        lightops.OSC(8, 8, **kw)


def test_unknown_op_name():
    with pytest.raises(ValueError, match=r"unknown operator 'conv9'.*\['osc', 'sc', 'spc'"):
        lightops.create_op("conv9", 4, 4)
