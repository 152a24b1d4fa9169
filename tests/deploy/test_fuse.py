"""lightops.deploy.fuse: same outputs as the eval-mode original, plainer layers, consistent MAC counts."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from timm.layers import DropPath
from torchinfo import summary

import lightops
from lightops.deploy.fuse import TimeAvgPool2, fuse, inference_params, pointwise_merge_pays
from lightops.models import model_cfgs
from lightops.ops import (
    DepthwiseConv3x3,
    DepthwisePair,
    FoldedPartialConv2d,
    OrthoPointwise,
    OrthoSeparableConv2d,
    SeparableConv2d,
)
from lightops.ops.folding import fold_conv_bn
from tests.deploy.conftest import SMALL_INPUT, make_model, randomize_norms
from tests.utils import flop_counter_macs

MODELS = lightops.list_models()
ATOL = 1e-5
# every registered operator inside a model, plus OSC in exact mode
MODEL_CASES = [(name, {}) for name in MODELS] + [
    ("dssdn_middle", {"cfg": model_cfgs["dssdn_middle"].with_op("osc", orthogonal="exact")})
] + [("dssdn_small", {"op": op}) for op in lightops.list_ops()]
MODEL_IDS = [n for n in MODELS] + ["dssdn_middle-osc_exact"] + [f"dssdn_small-{op}" for op in lightops.list_ops()]
OP_CASES = [(op, {}) for op in lightops.list_ops()] + [("osc", {"orthogonal": "exact"})]
OP_IDS = lightops.list_ops() + ["osc_exact"]


def max_diff(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        return (a(x) - b(x)).abs().max().item()


def has_bn(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("name,kwargs", MODEL_CASES, ids=MODEL_IDS)
def test_model_parity_and_structure(name, kwargs):
    model = make_model(name, **kwargs)
    before = copy.deepcopy(model.state_dict())
    fused = fuse(model)
    # the shortest input, one with odd lengths at the time poolings, and a 1-s clip; batch 2
    for size in ((1, 64, 16), (1, 64, 45), (1, 256, 44)):
        x = torch.randn(2, *size)
        assert max_diff(model, fused, x) <= ATOL
    assert not has_bn(fused)
    assert not any(parametrize.is_parametrized(m) for m in fused.modules())
    assert not any(isinstance(m, (nn.Dropout, DropPath, DepthwisePair, OrthoPointwise)) for m in fused.modules())
    assert not fused.training
    # the original is untouched: same weights, still has its norms, still runs (a parametrized class is shared
    # between a module and its deep copy; baking the copy must not break the original)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert has_bn(model)
    with torch.inference_mode():
        model(torch.randn(1, *SMALL_INPUT))


@pytest.mark.parametrize("name,kwargs", MODEL_CASES, ids=MODEL_IDS)
def test_mac_counters_agree(name, kwargs):
    fused = fuse(make_model(name, **kwargs))
    x = torch.randn(1, *SMALL_INPUT)
    macs = flop_counter_macs(fused, x)
    assert summary(fused, input_data=x, verbose=0).total_mult_adds == macs
    assert fused.macs(SMALL_INPUT) == macs  # the formulas follow the rewrites


def test_fused_macs_against_original():
    """Folding keeps the MACs; the merged 3x3 costs 9 instead of 3 + 3 per output bin of every depthwise pair (the
    block rewrite, which changes the MACs again, is off here; tests/deploy/test_graph.py counts it)."""
    model = make_model("dssdn_small")
    x = torch.randn(1, *SMALL_INPUT)
    kept = fuse(model, merge_depthwise=False, deploy_blocks=False)
    assert flop_counter_macs(kept, x) == model.macs(SMALL_INPUT)
    pairs = []
    hooks = [m.register_forward_hook(lambda mod, i, o: pairs.append(o.shape[1] * o.shape[2] * o.shape[3]))
             for m in model.modules() if isinstance(m, DepthwisePair)]
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()
    extra = sum(3 * n for n in pairs)  # stride 1 everywhere in DSSDN: 9 C F T - 6 C F T
    assert flop_counter_macs(fuse(model, deploy_blocks=False), x) == model.macs(SMALL_INPUT) + extra


@pytest.mark.parametrize("name", ["dssdn_small", "dssdn_tiny"])
def test_spc_forms_same_logits_fewer_macs(name):
    """``fuse(spc=...)``: every form computes the model's logits; grouped and partial execute fewer MACs than full
    width, and each form is what it says (grouped 1x1s; SPC's split kept)."""
    model = make_model(name)
    x = torch.randn(2, *SMALL_INPUT)
    macs = {}
    for form in ("full", "grouped", "partial"):
        fused = fuse(model, spc=form)
        assert max_diff(model, fused, x) <= ATOL
        macs[form] = flop_counter_macs(fused, x[:1])
        assert fused.macs(SMALL_INPUT) == macs[form]
        grouped = [m for m in fused.modules() if isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels]
        kept = [m for m in fused.modules() if isinstance(m, FoldedPartialConv2d)]
        assert bool(grouped) == (form == "grouped") and bool(kept) == (form == "partial")
    assert macs["partial"] < macs["grouped"] < macs["full"]
    with pytest.raises(ValueError, match="spc must be one of"):
        fuse(model, spc="half")


@pytest.mark.parametrize("op,kwargs", OP_CASES, ids=OP_IDS)
@pytest.mark.parametrize("in_chs,out_chs", [(16, 16), (12, 20)])
@pytest.mark.parametrize("stride,dilation", [(1, 1), ((2, 1), 1), ((1, 2), (2, 1)), (2, 2)])
def test_op_parity(op, kwargs, in_chs, out_chs, stride, dilation):
    torch.manual_seed(0)
    layer = lightops.create_op(op, in_chs, out_chs, stride=stride, dilation=dilation, bias=True,
                               norm_layer="batchnorm2d", act_layer="relu", **kwargs)
    randomize_norms(layer).eval()
    fused = fuse(layer)
    assert not has_bn(fused)
    for size in ((9, 16), (3, 5)):  # a short input and one smaller than some strides' windows
        x = torch.randn(2, in_chs, *size)
        assert max_diff(layer, fused, x) <= ATOL
        assert fused(x).shape == layer(x).shape


def test_spc_without_projection_keeps_an_affine_on_the_passed_channels():
    layer = randomize_norms(lightops.create_op("spc", 16, 16, norm_layer="batchnorm2d")).eval()
    fused = fuse(layer, deploy_blocks=False)  # deploy_blocks: its full-width chain (tests/ops)
    assert isinstance(fused, FoldedPartialConv2d) and fused.rest_scale.shape == (1, 12, 1, 1)
    assert max_diff(layer, fused, torch.randn(2, 16, 7, 9)) <= ATOL


def test_depthwise_pair_equals_one_3x3():
    torch.manual_seed(0)
    for stride, dilation in [((1, 1), (1, 1)), ((2, 1), (1, 3)), ((1, 3), (2, 2))]:
        pair = DepthwisePair(8, stride, dilation, bias=True).eval()
        dw = pair.inference_form()
        assert isinstance(dw, DepthwiseConv3x3) and dw.kernel_size == (3, 3)
        x = torch.randn(2, 8, 11, 13)
        assert max_diff(pair, dw, x) <= 1e-6
        assert dw.macs(11, 13) == 9 * 8 * dw(x).shape[2] * dw(x).shape[3]


def test_time_pool_is_exact():
    pool = nn.AvgPool2d((1, 2), ceil_mode=True)
    for t in (1, 2, 7, 8):
        x = torch.randn(2, 3, 4, t)
        assert torch.equal(TimeAvgPool2()(x), pool(x))
    fused = fuse(make_model("dssdn_small"))
    assert any(isinstance(m, TimeAvgPool2) for m in fused.modules())
    assert not any(isinstance(m, TimeAvgPool2) for m in fuse(make_model("dssdn_small"), channels_last=True).modules())


def test_fold_conv_bn_matches_torch():
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2).eval()
    bn = randomize_norms(nn.BatchNorm2d(6)).eval()
    x = torch.randn(2, 4, 5, 5)
    with torch.inference_mode():
        assert torch.allclose(fold_conv_bn(conv, bn)(x), bn(conv(x)), atol=1e-6)
    with pytest.raises(ValueError, match="output channels"):
        fold_conv_bn(conv, nn.BatchNorm2d(5).eval())


def test_switches():
    model = make_model("dssdn_middle")
    x = torch.randn(2, *SMALL_INPUT)
    plain = fuse(model, fold_bn=False, merge_depthwise=False, bias_buffers=False)
    assert has_bn(plain) and any(isinstance(m, DepthwisePair) for m in plain.modules())
    assert max_diff(model, plain, x) <= ATOL
    merged = fuse(model, merge_pointwise=True, deploy_blocks=False)
    assert not any(isinstance(m, OrthoSeparableConv2d) for m in merged.modules())
    assert any(isinstance(m, SeparableConv2d) for m in merged.modules())
    assert max_diff(model, merged, x) <= ATOL
    # in the deployment form every merged OSC is one 1x1 and one depthwise convolution
    chains = [blk.op1 for blk in fuse(model, merge_pointwise=True).blocks]
    assert all([type(m) for m in c] == [nn.Conv2d, DepthwiseConv3x3] for c in chains)
    assert max_diff(model, fuse(model, merge_pointwise=True), x) <= ATOL
    x1 = torch.randn(1, *SMALL_INPUT)
    assert summary(merged, input_data=x1, verbose=0).total_mult_adds == flop_counter_macs(merged, x1)
    auto = fuse(model, merge_pointwise="auto", input_size=(1, 256, 44))
    assert max_diff(model, auto, x) <= ATOL
    layer = lightops.create_op("osc", 160, 80)
    assert pointwise_merge_pays(layer, (160, 4, 3)) and not pointwise_merge_pays(layer, (160, 64, 216))
    cl = fuse(model, channels_last=True)
    assert max_diff(model, cl, x) <= ATOL
    # biases are buffers (torchinfo then counts no bias adds, as FlopCounterMode); weights and biases both counted
    fused = fuse(model)
    assert not any(n.endswith("bias") for n, _ in fused.named_parameters())
    assert any(n.endswith("bias") for n, _ in fused.named_buffers())
    assert inference_params(fused) == sum(p.numel() for p in fused.parameters()) + sum(
        b.numel() for n, b in fused.named_buffers() if n.endswith(".bias"))


def test_dropout_and_drop_path_removed():
    model = make_model("dssdn_small", drop_rate=0.5, drop_path_rate=0.2)
    fused = fuse(model)
    assert not any(isinstance(m, (nn.Dropout, DropPath)) for m in fused.modules())
    assert max_diff(model, fused, torch.randn(2, *SMALL_INPUT)) <= ATOL


def test_training_model_left_in_training_mode():
    model = lightops.create_model("dssdn_small").train()
    fused = fuse(model)
    assert model.training and not fused.training


def test_unfoldable_norm_warns_and_is_kept():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.act = nn.ReLU()
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.act(self.conv(x)))

    with pytest.warns(UserWarning, match="BatchNorm"):
        fused = fuse(Odd().eval())
    assert has_bn(fused)


def test_bad_arguments():
    with pytest.raises(ValueError, match="merge_depthwise"):
        fuse(nn.Identity(), merge_depthwise="yes")
    with pytest.raises(ValueError, match="merge_pointwise"):
        fuse(nn.Identity(), merge_pointwise=2)
    with pytest.raises(ValueError, match="time_pool"):
        fuse(nn.Identity(), time_pool=None)
    with pytest.raises(TypeError, match="nn.Module"):
        fuse("dssdn_small")
    with pytest.raises(ValueError, match="input_size"):
        fuse(lightops.create_op("osc", 8, 8), merge_pointwise="auto")


@pytest.mark.parametrize("name", lightops.list_models())
def test_fused_model_has_no_autograd_history_and_deepcopies(name):
    from lightops.deploy.fuse import fuse

    fused = fuse(lightops.create_model(name))
    for key, t in list(fused.named_parameters()) + list(fused.named_buffers()):
        assert t.grad_fn is None, key
    clone = copy.deepcopy(fused)
    x = torch.randn(1, 1, 64, 48)
    with torch.no_grad():
        assert torch.equal(clone(x), fused(x))


@pytest.mark.parametrize("name", lightops.list_models())
def test_freeze_matches_the_model_and_inlines_the_tree(name):
    from lightops.deploy import freeze

    model = make_model(name)
    frozen = freeze(model)
    x = torch.randn(1, *SMALL_INPUT)
    with torch.no_grad():
        assert torch.allclose(frozen(x), model(x), atol=1e-5)
    assert isinstance(frozen, torch.jit.ScriptModule) and not list(frozen.children())  # no submodule calls left


def test_operator_without_a_fusion_rule_keeps_its_norm():
    from lightops.deploy import fuse
    from tests.utils import PointwiseOnlyOp

    op = PointwiseOnlyOp(4, 6, norm_layer="batchnorm2d").eval()
    with pytest.warns(UserWarning, match="BatchNorm"):
        fused = fuse(op)
    x = torch.randn(1, 4, 5, 5)
    with torch.no_grad():
        assert torch.allclose(fused(x), op(x)) and isinstance(fused.norm, torch.nn.BatchNorm2d)


def test_walk_builds_each_form_from_its_children_forms():
    """to_inference_form knows no layer: any module with inference_form() is replaced, children first."""
    from lightops.deploy import to_inference_form

    seen = []

    class Layer(nn.Module):
        def __init__(self, name, *children):
            super().__init__()
            self.name, self.inner = name, nn.Sequential(*children)

        def forward(self, x):
            return self.inner(x) + 1

        def inference_form(self):
            seen.append((self.name, [type(m).__name__ for m in self.inner]))
            return nn.Sequential(self.inner, nn.Identity())

    tree = nn.Sequential(Layer("outer", Layer("inner", nn.ReLU())), Layer("kept"))
    out = to_inference_form(tree, keep=lambda m: getattr(m, "name", "") == "kept")
    assert seen == [("inner", ["ReLU"]), ("outer", ["Sequential"])]  # the outer layer saw the inner one's form
    assert isinstance(out[0], nn.Sequential) and isinstance(out[1], Layer)
