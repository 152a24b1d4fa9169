"""The DCASE 2025 Task 1 baseline (simplified CP-Mobile): its published size, structure, MAC formula and operators."""
import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import lightops
from lightops.models.cp_mobile import InvertedBottleneck


def _flop_macs(model: torch.nn.Module, size) -> int:
    with FlopCounterMode(display=False) as counter:
        model.eval()(torch.randn(1, *size))
    return counter.get_total_flops() // 2


def test_parameter_count_is_the_published_61148_and_122296_bytes_at_fp16():
    model = timm.create_model("dcase2025_baseline")
    assert sum(p.numel() for p in model.parameters()) == 61_148
    half = model.half()
    assert sum(p.numel() * p.element_size() for p in half.parameters()) == 122_296


def test_structure_follows_the_description():
    model = lightops.create_model("dcase2025_baseline")
    assert [seq[0].out_channels for seq in model.stem] == [8, 32]
    assert [seq[0].stride for seq in model.stem] == [(2, 2), (2, 2)]
    blocks = [b for stage in model.stages for b in stage]
    assert [len(stage) for stage in model.stages] == [3, 2, 1]
    assert [b.out_chs for b in blocks] == [32, 32, 32, 56, 56, 104]
    assert [b.stride for b in blocks] == [(1, 1), (1, 1), (1, 2), (2, 1), (1, 1), (1, 1)]
    assert [b.exp_chs for b in blocks] == [64, 64, 64, 64, 120, 120]  # make_divisible(in x 2.1, 8)
    assert [b.use_shortcut for b in blocks] == [True, True, True, False, True, False]
    assert isinstance(blocks[2].shortcut, torch.nn.AvgPool2d)  # the strided residual is pooled
    assert model.forward_features(torch.randn(1, 1, 256, 65)).shape == (1, 104, 32, 9)
    assert "dcase2025_baseline" in lightops.list_models(baselines=True)
    assert "dcase2025_baseline" not in lightops.list_models()


def test_macs_on_the_baselines_input_are_29_4_m_and_equal_the_counter():
    model = lightops.create_model("dcase2025_baseline")
    assert model.macs((1, 256, 65)) == 29_416_448 == _flop_macs(model, (1, 256, 65))


@pytest.mark.parametrize("op", [None] + lightops.list_ops())
@settings(max_examples=4, deadline=None)
@given(f=st.integers(8, 70), t=st.integers(4, 40))
def test_macs_formula_equals_the_counter_with_every_operator(op, f, t):
    model = lightops.create_model("dcase2025_baseline", op=op, num_classes=3)
    assert model.macs((1, f, t)) == _flop_macs(model, (1, f, t))


@pytest.mark.parametrize("op", lightops.list_ops())
def test_op_replaces_expansion_and_depthwise_by_the_registered_operator(op):
    model = lightops.create_model("dcase2025_baseline", op=op)
    blocks = [b for stage in model.stages for b in stage]
    cls = lightops.ops.get_op_class(op)
    assert all(isinstance(b.expand, cls) and isinstance(b.depthwise, torch.nn.Identity) for b in blocks)
    assert [b.expand.stride for b in blocks] == [b.stride for b in blocks]
    logits = model(torch.randn(2, 1, 64, 20))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_residual_is_used_only_when_widths_match():
    block = InvertedBottleneck(16, 16, stride=(1, 2)).eval()
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad():
        full = block(x)
        block.project[1].weight.zero_()  # the branch outputs its BN bias only (0): what is left is the shortcut
        block.project[1].bias.zero_()
        assert torch.allclose(block(x), torch.relu(torch.nn.functional.avg_pool2d(x, 3, (1, 2), 1)))
    assert full.shape == (1, 16, 8, 4)


@pytest.mark.parametrize("kwargs, match", [(dict(num_classes=-1), "num_classes"), (dict(in_chans=0), "in_chans"),
                                           (dict(depths=()), "depths"), (dict(expansion=0), "expansion"),
                                           (dict(global_pool="max"), "global_pool")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lightops.create_model("dcase2025_baseline", **kwargs)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"CPMobile: expected C=1 input channels in \(B, C, F, T\)"):
        lightops.create_model("dcase2025_baseline")(torch.randn(1, 2, 64, 20))


@pytest.mark.slow
def test_trains_exports_and_predicts_like_every_model(tmp_path):
    """`lightops train`, `export` (ONNX, parity checked) and `predict` from the checkpoint and the file agree."""
    pytest.importorskip("onnxruntime")
    import csv

    import numpy as np
    import soundfile as sf

    from lightops.cli import main

    run = tmp_path / "run"
    assert main(["train", "--model", "dcase2025_baseline", "--data", "synthetic", "--epochs", "1", "--num-clips", "40",
                 "--sample-rate", "16000", "--n-fft", "512", "--hop-length", "256", "--n-mels", "32", "--out", str(run),
                 "--quiet"]) == 0
    assert main(["export", str(run / "last.pt"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(tmp_path / f"clip{i}.wav", (0.1 * rng.standard_normal(16000)).astype("float32"), 16000)
    labels = []
    for model in (run / "last.pt", tmp_path / "m.onnx"):
        out = tmp_path / f"{model.suffix[1:]}.csv"
        assert main(["predict", str(model), *(str(tmp_path / f"clip{i}.wav") for i in range(3)), "--out", str(out),
                     "--quiet"]) == 0
        with open(out, newline="") as fh:
            labels.append([r["scene_label"] for r in csv.DictReader(fh, delimiter="\t")])
    assert labels[0] == labels[1] and len(labels[0]) == 3
