"""lightops.deploy.graph: the deployment form of DSSDB and DSSDN computes the same values with fewer, plainer nodes."""
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lightops
from lightops.blocks import DSSDB
from lightops.blocks.attention import ECA
from lightops.deploy import fuse
from lightops.deploy.fuse import DepthwiseConv3x3
from lightops.deploy.graph import (
    ChannelGate,
    DeployDSSDB,
    DeployDSSDN,
    adaptive_mean_weights,
    conv_chain,
    partial_as_full,
    pool_into_conv,
)
from tests.deploy.conftest import make_model, randomize_norms
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
        assert fused.fuse.in_channels % align == 0 and fused.d0.out_channels % align == 0


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


@pytest.mark.parametrize("in_chs,out_chs", [(16, 16), (12, 20), (5, 5)])
@pytest.mark.parametrize("stride,dilation", [(1, 1), ((2, 1), 1), ((1, 2), (2, 1)), (2, 2)])
def test_partial_conv_as_full_width_chain(in_chs, out_chs, stride, dilation):
    """SPC (projection or folded affine, any stride and dilation) as 1x1 -> depthwise [-> 1x1], exactly."""
    torch.manual_seed(0)
    op = randomize_norms(lightops.create_op("spc", in_chs, out_chs, stride=stride, dilation=dilation, bias=True))
    op.eval()
    fused = fuse(op, deploy_blocks=False)
    chain = partial_as_full(fused)
    assert chain is not None
    assert isinstance(chain[0], nn.Conv2d) and chain[0].in_channels == chain[0].out_channels == in_chs
    assert isinstance(chain[1], DepthwiseConv3x3) and chain[1].chs == in_chs
    x = torch.randn(2, in_chs, 11, 9)
    with torch.inference_mode():
        assert close(chain(x), op(x))
    assert conv_chain(fuse(op, deploy_blocks=False, merge_depthwise=False)) is None  # a pair is not a kxk kernel


@pytest.mark.parametrize("op", ["sc", "osc"])
def test_conv_chain_of_other_operators(op):
    torch.manual_seed(0)
    layer = randomize_norms(lightops.create_op(op, 12, 20, bias=True)).eval()
    chain = conv_chain(fuse(layer, deploy_blocks=False))
    assert isinstance(chain, nn.Sequential) and all(isinstance(m, nn.Conv2d) for m in chain)
    x = torch.randn(2, 12, 8, 7)
    with torch.inference_mode():
        assert close(chain(x), layer(x))


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


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 80), bins=st.integers(1, 20))
def test_adaptive_mean_weights(length, bins):
    """sum(w * x) is the mean of the adaptive average pool, for any length and bin count."""
    x = torch.randn(3, length, dtype=torch.float64)
    w = adaptive_mean_weights(length, bins)
    assert torch.allclose(x @ w, F.adaptive_avg_pool1d(x[:, None], bins).mean((1, 2)), atol=1e-12)
    assert abs(w.sum().item() - 1.0) < 1e-12 and bool((w > 0).all())


def test_pool_into_conv():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 1)
    x = torch.randn(2, 3, 8, 6)
    merged = pool_into_conv(nn.AvgPool2d(2), conv)
    assert merged.kernel_size == (2, 2) and merged.stride == (2, 2)
    assert close(merged(x), conv(F.avg_pool2d(x, 2)))
    ceil = nn.AvgPool2d(2, ceil_mode=True)
    assert pool_into_conv(ceil, conv) is None  # an odd length would leave a partial window
    assert pool_into_conv(ceil, conv, (8, 6)) is not None
    assert pool_into_conv(nn.AvgPool2d(2, stride=1), conv) is None and pool_into_conv(conv, conv) is None


@pytest.mark.parametrize("name", lightops.list_models())
@pytest.mark.parametrize("size", [(1, 256, 44), (1, 64, 45)])
def test_deploy_model_fixed_length(name, size):
    model = make_model(name)
    with torch.no_grad():
        model.head.fc.weight.normal_()  # logits of a trained model's scale
    fixed = DeployDSSDN(fuse(model, channel_align=16), size)
    assert fixed.split_stem  # the stem's low band is the first block's: no concatenation and split between them
    x = torch.randn(2, *size)
    with torch.inference_mode():
        assert close(fixed(x), model(x))
    with pytest.raises(ValueError, match=r"built for inputs .* \(1, 256, 44\)|built for inputs .* \(1, 64, 45\)"):
        fixed(torch.randn(1, 1, size[1], size[2] + 1))
    model.reset_classifier(0)
    assert not DeployDSSDN.convertible(fuse(model))
    with pytest.raises(ValueError, match="classifier on the global average"):
        DeployDSSDN(fuse(model), size)


@pytest.mark.parametrize("name", lightops.list_models())
def test_deploy_model_any_length(name):
    model = make_model(name)
    with torch.no_grad():
        model.head.fc.weight.normal_()
    generic = DeployDSSDN(fuse(model, channel_align=16), (1, 64, 32), fixed_length=False)
    for t in (16, 32, 45, 61):  # every remainder at the poolings
        x = torch.randn(2, 1, 64, t)
        with torch.inference_mode():
            assert close(generic(x), model(x))
    with pytest.raises(ValueError, match=r"\(C, F\) = \(1, 64\)"):
        generic(torch.randn(1, 1, 80, 32))


def test_fused_model_is_the_deployment_form(small_model):
    fused = fuse(small_model)
    assert all(isinstance(b, DeployDSSDB) for b in fused.blocks)
    assert not any(isinstance(m, DSSDB) for m in fused.modules())
    calls = []
    hooks = [m.register_forward_hook(lambda *a: calls.append(1)) for m in fused.modules() if isinstance(m, nn.Identity)]
    with torch.inference_mode():
        fused(torch.randn(1, 1, 64, 32))
    for h in hooks:
        h.remove()
    assert not calls  # no identity left in the forward pass
    x = torch.randn(2, 1, 64, 32)
    with torch.inference_mode():
        assert close(fused.forward_head(fused.forward_features(x), pre_logits=True),
                     small_model.forward_head(small_model.forward_features(x), pre_logits=True))


# ---- exported graphs ------------------------------------------------------------------------------------------

# nodes of the fixed-length export of a 1-s clip after ONNX Runtime's graph optimisation (ORT_ENABLE_EXTENDED: the
# fusions every CPU gets; the NCHWc layout pass of ORT_ENABLE_ALL depends on the CPU's vector width)
NODE_BUDGET = {"dssdn_small": 150, "dssdn_middle": 160, "dssdn_large": 140}
SHAPE_OPS = {"Shape", "Gather", "CumSum", "Div", "Cast", "Range", "Expand", "Floor", "Sub", "Slice", "Squeeze"}


@pytest.mark.slow
@pytest.mark.parametrize("name", lightops.list_models())
def test_fixed_length_export_is_mostly_convolutions(name, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx
    import onnxruntime as ort

    from lightops.deploy import export_onnx

    path = str(tmp_path / f"{name}.onnx")
    result = export_onnx(make_model(name), path, (1, 256, 44), static=True)  # raises unless parity <= 1e-5
    assert result.dynamic_axes == {0: "batch"}
    nodes = onnx.load(path).graph.node
    pools = [n for n in nodes if n.op_type == "AveragePool"]
    assert pools and not any(a.name == "ceil_mode" and a.i for n in pools for a in n.attribute)  # SAME_UPPER
    assert not any(n.op_type == "ReduceMean" for n in nodes)  # global means are GlobalAveragePool
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = os.path.join(tmp_path, "opt.onnx")
    ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    convs = sum(op in ("Conv", "FusedConv") for op in ops)
    assert len(ops) <= NODE_BUDGET[name], sorted(ops)
    assert convs >= 0.5 * len(ops)
    assert not SHAPE_OPS & set(ops)  # no shape arithmetic, no cumulative-sum pooling
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = torch.randn(3, 1, 256, 44)  # the batch stays dynamic
    with torch.inference_mode():
        ref = make_model(name)(x).numpy()
    assert abs(sess.run(None, {"logmel": x.numpy()})[0] - ref).max() <= 1e-4


@pytest.mark.parametrize("name", lightops.list_models())
def test_channel_align_pads_widths_and_keeps_logits(name):
    model = make_model(name)
    with torch.no_grad():
        model.head.fc.weight.normal_()
    fused = fuse(model, channel_align=16)
    x = torch.randn(2, 1, 64, 45)
    with torch.inference_mode():
        assert close(fused(x), model(x))
    widths = [blk.fuse.out_channels for blk in fused.blocks]
    assert all(w % 16 == 0 for w in widths) and all(blk.fuse.in_channels % 64 == 0 for blk in fused.blocks)
    assert fused.head.fc.in_features == sum(widths) >= model.num_features


def test_channel_align_leaves_a_block_whose_successor_adds_its_input():
    from dataclasses import replace

    from lightops.models import model_cfgs

    cfg = model_cfgs["dssdn_small"]
    cfg = replace(cfg, blocks=tuple(replace(b, out_chs=40) for b in cfg.blocks))  # 24 -> 40 -> 40 ... residuals
    torch.manual_seed(0)
    model = randomize_norms(lightops.DSSDN(cfg)).eval()
    fused = fuse(model, channel_align=16)
    assert [blk.fuse.out_channels for blk in fused.blocks] == [40, 40, 40, 40, 48]
    assert fused.blocks[0].d0.in_channels == 32  # the stem's 24 channels padded
    x = torch.randn(2, 1, 64, 32)
    with torch.inference_mode():
        assert close(fused(x), model(x))


# the same for the dynamic-length export: the time axis keeps a cumulative-sum pooling for the block outputs that
# are pooled in time afterwards (two of five in every variant)
DYNAMIC_NODE_BUDGET = {"dssdn_small": 220, "dssdn_middle": 230, "dssdn_large": 210}


@pytest.mark.slow
@pytest.mark.parametrize("name", lightops.list_models())
def test_dynamic_length_export_node_budget(name, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx
    import onnxruntime as ort

    from lightops.deploy import export_onnx

    path = str(tmp_path / f"{name}.onnx")
    result = export_onnx(make_model(name), path, (1, 256, 44))  # parity at two lengths, or it raises
    assert result.dynamic_axes == {0: "batch", 3: "time"}
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = os.path.join(tmp_path, "opt.onnx")
    ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node]
    assert len(ops) <= DYNAMIC_NODE_BUDGET[name], sorted(ops)
    assert ops.count("CumSum") <= 2


def test_parity_tolerance_scales_with_the_logits():
    from lightops.deploy.parity import ParityCheck

    assert ParityCheck((1,), 9e-6, 0.5).within(1e-5) and not ParityCheck((1,), 2e-5, 0.5).within(1e-5)
    assert ParityCheck((1,), 3e-4, 40.0).within(1e-5) and not ParityCheck((1,), 5e-4, 40.0).within(1e-5)
