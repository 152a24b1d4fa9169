"""profile(): totals against FlopCounterMode and torchinfo, the known torchinfo differences, the flat view,
warnings for what nothing counts, export. Registered operators and models are covered as they register."""
import json
import math
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchinfo import summary

import lightops
from lightops.profiling import (
    DCASE_MAX_MACS,
    DCASE_MAX_PARAM_BYTES,
    DCASE_MAX_PARAMS,
    Profile,
    layer_macs,
    profile,
)
from tests.utils import flop_counter_macs

VARIANTS = [(name, {}) for name in lightops.list_ops()] + [("osc", {"orthogonal": "exact"})]
IDS = [n + ("-" + "-".join(str(v) for v in kw.values()) if kw else "") for n, kw in VARIANTS]
MODELS = getattr(lightops, "list_models", lambda: [])()


def quiet_profile(module, input_size, **kw) -> Profile:
    """``profile`` that fails the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return profile(module, input_size, memory=False, **kw)


def check_totals(module, input_size, batch_size=1) -> Profile:
    """Totals equal FlopCounterMode / 2 and the trainable parameter count; the flat view adds up."""
    p = quiet_profile(module, input_size, batch_size=batch_size)
    x = torch.randn(batch_size, *input_size)
    assert p.total_macs == flop_counter_macs(module, x) == p.counter_macs
    assert p.total_params == sum(t.numel() for t in module.parameters() if t.requires_grad)
    assert sum(r.share_macs for r in p.rows()) == p.total_macs
    return p


# ---- operators, compositions, models vs FlopCounterMode -----------------------------------------------------

@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("in_chs,out_chs,fq,tm,stride", [(8, 8, 5, 7, 1), (6, 10, 9, 4, (2, 1)), (3, 5, 4, 9, (1, 2))])
def test_op_totals(name, kw, in_chs, out_chs, fq, tm, stride):
    op = lightops.create_op(name, in_chs, out_chs, stride=stride, **kw)
    p = check_totals(op, (in_chs, fq, tm))
    assert p.total_macs == op.macs((in_chs, fq, tm))
    assert p.records[0].name == "" and p.records[0].source == "formula"


@pytest.mark.parametrize("name,kw", VARIANTS, ids=IDS)
def test_op_with_bias_norm_act(name, kw):
    op = lightops.create_op(name, 6, 6, bias=True, norm_layer="batchnorm2d", act_layer="relu", **kw)
    check_totals(op, (6, 7, 5))


def composition(kind: str) -> nn.Module:
    if kind == "conv-bn-ops-head":
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            lightops.SC(8, 16), lightops.OSC(16, 16, stride=(2, 1)), lightops.SPC(16, 24),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10, bias=False))
    if kind == "exact-osc-norm-act":
        return nn.Sequential(
            lightops.OSC(4, 12, orthogonal="exact", norm_layer="batchnorm2d", act_layer="relu"),
            lightops.SPC(12, 12, stride=2, bias=True), nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(0.1),
            lightops.SC(12, 8, dilation=(2, 1)), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    if kind == "grouped-dilated-transposed":
        return nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2, bias=False), nn.GELU(),
            nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=8), nn.ConvTranspose2d(8, 6, 2, stride=2, groups=2),
            nn.BatchNorm2d(6), nn.SiLU(), lightops.SPC(6, 6))
    raise ValueError(kind)


KINDS = ["conv-bn-ops-head", "exact-osc-norm-act", "grouped-dilated-transposed"]


@pytest.mark.parametrize("kind", KINDS)
def test_composition_totals(kind):
    model = composition(kind)
    size = (1, 12, 10) if kind == "conv-bn-ops-head" else (4, 8, 6)
    check_totals(model, size)
    check_totals(model, size, batch_size=2)


@pytest.mark.parametrize("name", MODELS)
def test_model_totals(name):
    """Every registered model (none until the models land): totals on a 1-s clip equal FlopCounterMode / 2."""
    model = lightops.create_model(name)
    p = check_totals(model, (1, 256, 44))
    if callable(getattr(model, "macs", None)):
        assert p.total_macs == model.macs((1, 256, 44))
    if hasattr(model, "num_classes"):
        assert p.output_shape == [1, model.num_classes]


# ---- torchinfo: equal where it counts right, documented differences elsewhere --------------------------------

def torchinfo_macs(module, input_size):
    return summary(module, input_size=(1, *input_size), verbose=0, device="cpu").total_mult_adds


@pytest.mark.parametrize("name", lightops.list_ops())
@pytest.mark.parametrize("stride", [1, (2, 1)])
def test_torchinfo_agrees_on_each_registered_op(name, stride):
    op = lightops.create_op(name, 6, 10, stride=stride)
    assert quiet_profile(op, (6, 7, 9)).total_macs == torchinfo_macs(op, (6, 7, 9))


def test_torchinfo_agrees_on_plain_convs_and_ops():
    model = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1, bias=False), nn.ReLU(), lightops.SC(8, 16, stride=(2, 1)),
        lightops.OSC(16, 16), lightops.SPC(16, 24), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(24, 5, bias=False))
    p = quiet_profile(model, (2, 9, 11))
    assert torchinfo_macs(model, (2, 9, 11)) == p.total_macs
    assert summary(model, input_size=(1, 2, 9, 11), verbose=0).trainable_params == p.total_params


def test_torchinfo_counts_conv_bias_per_output_position():
    """torchinfo: (weight + bias params) x output positions; here bias adds are not MACs."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 1, stride=2))
    fq, tm = 9, 7
    p = quiet_profile(model, (2, fq, tm))
    f2, t2 = (fq - 1) // 2 + 1, (tm - 1) // 2 + 1
    assert torchinfo_macs(model, (2, fq, tm)) - p.total_macs == 4 * fq * tm + 6 * f2 * t2


def test_torchinfo_counts_batchnorm_affine_params():
    """torchinfo: BatchNorm's weight and bias counted as batch x params mult-adds (2 C at batch 1); here 0."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 6, 1, bias=False), nn.BatchNorm2d(6))
    p = quiet_profile(model, (2, 5, 6))
    assert torchinfo_macs(model, (2, 5, 6)) - p.total_macs == 2 * 4 + 2 * 6


def test_torchinfo_counts_linear_bias():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 4, 7))
    p = quiet_profile(model, (2, 3, 4))
    assert torchinfo_macs(model, (2, 3, 4)) - p.total_macs == 7


@pytest.mark.parametrize("in_chs,out_chs", [(8, 8), (16, 12)])
def test_torchinfo_misses_parametrized_weights(in_chs, out_chs):
    """torchinfo sums leaf layers only; a parametrized 1x1 (OSC exact) is not a leaf to it: m * Cin * F * T lost."""
    osc = lightops.OSC(in_chs, out_chs, orthogonal="exact")
    fq, tm = 5, 6
    p = quiet_profile(osc, (in_chs, fq, tm))
    assert p.total_macs - torchinfo_macs(osc, (in_chs, fq, tm)) == osc.mid_chs * in_chs * fq * tm
    soft = lightops.OSC(in_chs, out_chs)
    assert torchinfo_macs(soft, (in_chs, fq, tm)) == quiet_profile(soft, (in_chs, fq, tm)).total_macs


# ---- where MACs come from ----------------------------------------------------------------------------------

class FunctionalConv(nn.Module):
    """A leaf applying its own weight with F.conv2d: no formula, no standard layer, measured by the counter."""

    def __init__(self, in_chs, out_chs):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_chs, in_chs, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight)


class Mixed(nn.Module):
    """A container running a submodule and a matrix product of its own."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 1, bias=False)
        self.weight = nn.Parameter(torch.randn(3, 6, 1, 1))

    def forward(self, x):
        return F.conv2d(self.conv(x), self.weight)


class Scale(nn.Module):
    def __init__(self, chs):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, chs, 1, 1))

    def forward(self, x):
        return x * self.weight


class Shift(nn.Module):
    def forward(self, x):
        return x + 1


class WithFormula(nn.Module):
    """A block with a formula (here deliberately ``wrong`` by ``error`` MACs, or raising)."""

    def __init__(self, error=0, fail=False, act=None):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.act = act or Shift()  # Shift is uncounted, but covered by the formula
        self.error, self.fail = error, fail

    def macs(self, input_size):
        if self.fail:
            raise ValueError("no formula for this input")
        _, fq, tm = input_size
        return 36 * 4 * fq * tm + self.error

    def forward(self, x):
        return self.act(self.conv(x))


def test_counter_fallback_for_functional_leaf():
    p = check_totals(nn.Sequential(FunctionalConv(4, 6), nn.ReLU()), (4, 3, 5))
    rec = {r.name: r for r in p.records}["0"]
    assert rec.source == "counter" and rec.macs == 6 * 4 * 15


def test_container_own_ops_counted_once():
    p = check_totals(Mixed(), (4, 3, 5))
    assert p.total_macs == (4 * 6 + 6 * 3) * 15
    root = p.records[0]
    assert root.frontier and root.share_macs == 6 * 3 * 15 and root.source == "submodules"
    assert "own ops" in p.table()


def test_formula_module_is_one_row_and_covers_its_parts():
    model = nn.Sequential(WithFormula(), nn.Conv2d(4, 2, 1, bias=False))
    p = quiet_profile(model, (4, 3, 5))  # Shift inside WithFormula is covered: no warning
    assert [r.name for r in p.rows()] == ["0", "1"]
    assert p.total_macs == 36 * 4 * 15 + 8 * 15
    inner = {r.name: r for r in p.records}
    assert not inner["0.conv"].frontier and inner["0.conv"].macs == 36 * 4 * 15 and inner["0.act"].source == "uncounted"
    assert [r.name for r in p.rows(depth=1)] == ["", "0", "1"]


def test_formula_disagreeing_with_submodules_warns_and_wins():
    model = nn.Sequential(WithFormula(error=5, act=nn.ReLU()), nn.ReLU())
    with pytest.warns(UserWarning, match=r"macs\(\) of '0' \(WithFormula\) gives 2,165 MACs but its submodules"):
        p = profile(model, (4, 3, 5), memory=False)
    assert p.total_macs == 36 * 4 * 15 + 5 and p.warnings


def test_failing_formula_falls_back_to_submodules():
    model = nn.Sequential(WithFormula(fail=True), nn.ReLU())
    with pytest.warns(UserWarning) as caught:
        p = profile(model, (4, 3, 5), memory=False)
    text = " | ".join(str(w.message) for w in caught)
    assert "failed" in text and "no formula for this input" in text
    assert "'0.act' (Shift) is of a type not known" in text  # the parts are now on their own
    assert p.total_macs == 36 * 4 * 15


def test_uncounted_leaf_with_parameters_warns():
    with pytest.warns(UserWarning, match=r"leaf module '1' \(Scale\) has parameters"):
        p = profile(nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), Scale(3)), (2, 4, 4), memory=False)
    assert {r.name: r.source for r in p.records}["1"] == "uncounted"


def test_unknown_parameter_free_leaf_warns():
    with pytest.warns(UserWarning, match=r"leaf module '\(root\)' \(Shift\) is of a type not known to cost 0"):
        profile(Shift(), (2, 4, 4), memory=False)


def test_reused_module_params_once_macs_per_call():
    shared = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    p = check_totals(model, (4, 5, 6))
    assert p.total_params == 144 and p.total_macs == 2 * 144 * 30
    assert {r.name: r.calls for r in p.records}["0"] == 2


def test_layer_macs_closed_forms():
    conv = nn.Conv2d(6, 8, (3, 1), groups=2)
    assert layer_macs(conv, [torch.Size([1, 6, 5, 5])], [8 * 25]) == 8 * 25 * 3 * 3
    tconv = nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2)
    assert layer_macs(tconv, [torch.Size([1, 4, 3, 3])], [6 * 36]) == 4 * 9 * 3 * 4
    assert layer_macs(nn.Linear(5, 7), [torch.Size([2, 5])], [14]) == 70
    assert layer_macs(nn.ReLU(), [torch.Size([1])], [1]) is None


# ---- options, devices, state --------------------------------------------------------------------------------

def test_meta_device_same_figures_module_untouched():
    model = composition("exact-osc-norm-act")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cpu = quiet_profile(model, (4, 8, 6))
    meta = quiet_profile(model, (4, 8, 6), device="meta")
    assert (meta.total_macs, meta.total_params, meta.output_shape) == (cpu.total_macs, cpu.total_params,
                                                                        cpu.output_shape)
    assert meta.device == "meta"
    assert all(torch.equal(v, model.state_dict()[k]) and v.device.type == "cpu" for k, v in before.items())


def test_batch_size_scales_macs_and_shapes():
    op = lightops.SPC(8, 12, stride=2)
    one, three = quiet_profile(op, (8, 6, 7)), quiet_profile(op, (8, 6, 7), batch_size=3)
    assert three.total_macs == 3 * one.total_macs and three.output_shape[0] == 3
    assert three.total_params == one.total_params


def test_training_flags_restored():
    model = composition("conv-bn-ops-head").train()
    model[1].eval()
    flags = [m.training for m in model.modules()]
    quiet_profile(model, (1, 12, 10))
    assert [m.training for m in model.modules()] == flags


@pytest.mark.parametrize("bad", [(4, 0, 5), (4, 5), "4x5", (4.0, 5, 5)])
def test_bad_input_size(bad):
    if isinstance(bad, tuple) and len(bad) == 2:  # a 2-d size is valid to profile; the op rejects it
        with pytest.raises(ValueError):
            profile(lightops.SC(4, 4), bad)
        return
    with pytest.raises(ValueError, match="input_size"):
        profile(lightops.SC(4, 4), bad)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        profile(lightops.SC(4, 4), (4, 5, 5), batch_size=0)


# ---- report ---------------------------------------------------------------------------------------------------

def test_report_and_export():
    model = composition("conv-bn-ops-head")
    p = profile(model, (1, 12, 10))
    text = str(p)
    for needle in ("Sequential on input (1, 1, 12, 10)", "SeparableConv2d", "by type", "param memory",
                   "peak activations", f"{p.total_macs:,}"):
        assert needle in text
    tree = p.table(depth=2, by_type=False)
    assert "by type" not in tree and "    pw" in tree  # depth-2 rows indented under their parent
    d = json.loads(p.to_json())
    assert d["total_macs"] == p.total_macs and d["input_size"] == [1, 12, 10]
    assert d["param_memory"]["int8_bytes"] == p.total_params and d["param_memory"]["fits_dcase"]
    assert d["peak_activation_bytes"] > 0 and len(d["records"]) == len(p.records)
    by_type = {t["type"]: t for t in d["by_type"]}
    assert "Sequential" not in by_type  # plain containers say nothing about cost
    assert by_type["Linear"]["macs"] == 24 * 10
    assert by_type["Conv2d"]["count"] == 1 + 3 + 4 + 4  # stem conv + the operators' inner convolutions
    assert 0 < by_type["SeparableConv2d"]["share"] < 1


def test_dcase_constants():
    assert DCASE_MAX_MACS == 30_000_000 and DCASE_MAX_PARAM_BYTES == DCASE_MAX_PARAMS * 1  # INT8: 1 byte each


@pytest.mark.parametrize("name", MODELS)
def test_model_torchinfo_difference_is_bias_and_norm_terms(name):
    """On a model, torchinfo's excess is exactly conv/linear bias times output positions plus 2 C per norm."""
    model = lightops.create_model(name)
    if any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules()):
        pytest.skip("parametrized layers: torchinfo misses them (tested on OSC above)")
    p = quiet_profile(model, (1, 256, 44))
    expected = 0
    for r in p.records:
        m = model.get_submodule(r.name)
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            expected += 2 * m.num_features
        elif isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and m.bias is not None:
            expected += math.prod(r.output_shape)  # one bias add per output element at batch 1
    assert torchinfo_macs(model, (1, 256, 44)) - p.total_macs == expected


def test_root_formula_checked_against_its_parts():
    with pytest.warns(UserWarning, match=r"macs\(\) of '\(root\)' \(WithFormula\) gives 2,165 MACs but its "
                                         r"submodules count 2,160"):
        p = profile(WithFormula(error=5, act=nn.ReLU()), (4, 3, 5), memory=False)
    assert p.total_macs == 2165 and sum(r.share_macs for r in p.rows()) == 2160
