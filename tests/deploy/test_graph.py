"""The deployed DSSDN (its export form, aligned widths) computes the same values; its exported graph has few nodes."""
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import lightops
from lightops.blocks import DSSDB, DeployDSSDB
from lightops.deploy import fuse
from lightops.models.dssdn_deploy import DeployDSSDN, adaptive_mean_weights
from lightops.ops.conv_chain import pool_into_conv
from tests.deploy.conftest import make_model, randomize_norms

RTOL = 1e-5  # relative to the output's largest magnitude


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (a - b).abs().max().item() <= RTOL * max(1.0, b.abs().max().item())


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


PAPER = dict(stem="highlow", split="band", input_norm="none")  # the paper's structure, no registered variant's


@pytest.mark.parametrize("name,kwargs", [(n, {}) for n in lightops.list_models()] + [("dssdn_small", PAPER)])
@pytest.mark.parametrize("size", [(1, 256, 44), (1, 64, 45)])
def test_deploy_model_fixed_length(name, kwargs, size):
    model = make_model(name, **kwargs)
    with torch.no_grad():
        model.head.fc.weight.normal_()  # logits of a trained model's scale
    fixed = DeployDSSDN(fuse(model, channel_align=16), size)
    # a high/low stem whose low band is the first block's: no concatenation and split between them
    assert fixed.split_stem == (kwargs == PAPER)
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
NODE_BUDGET = {"dssdn_small": 150, "dssdn_tiny": 150, "dssdn_middle": 160, "dssdn_large": 140}
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
    widths = [blk.merge.out_channels for blk in fused.blocks]
    assert all(w % 16 == 0 for w in widths) and all(blk.merge.in_channels % 64 == 0 for blk in fused.blocks)
    assert fused.head.fc.in_features == sum(widths) >= model.num_features


def test_channel_align_leaves_a_block_whose_successor_adds_its_input():
    from dataclasses import replace

    from lightops.models import model_cfgs

    cfg = model_cfgs["dssdn_small"]
    cfg = replace(cfg, blocks=tuple(replace(b, out_chs=40) for b in cfg.blocks))  # 24 -> 40 -> 40 ... residuals
    torch.manual_seed(0)
    model = randomize_norms(lightops.DSSDN(cfg)).eval()
    fused = fuse(model, channel_align=16)
    assert [blk.merge.out_channels for blk in fused.blocks] == [40, 40, 40, 40, 48]
    assert fused.blocks[0].d0.in_channels == 32  # the stem's 24 channels padded
    x = torch.randn(2, 1, 64, 32)
    with torch.inference_mode():
        assert close(fused(x), model(x))


# the same for the dynamic-length export: the time axis keeps a cumulative-sum pooling for the block outputs that
# are pooled in time afterwards (two of five in every variant)
DYNAMIC_NODE_BUDGET = {"dssdn_small": 220, "dssdn_tiny": 220, "dssdn_middle": 230, "dssdn_large": 210}


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
