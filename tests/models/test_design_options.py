"""The open design choices of DSSDN as model arguments (DSSDNCfg.override), ResNorm, ClipNorm and the last-block-only
head."""
import dataclasses

import pytest
import timm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lightops
from lightops.blocks import ClipNorm, LastScale, MultiScaleConcat, ResNorm, create_input_norm
from lightops.deploy import fuse
from lightops.models import DSSDNCfg
from lightops.models.dssdn import model_cfgs
from lightops.profiling import frequency_receptive_fields


@pytest.mark.parametrize("create", [lightops.create_model, timm.create_model])
def test_every_option_reaches_the_cfg(create):
    m = create("dssdn_small", stem="highlow", norm_layer="groupnorm1", input_norm="resnorm", scales="last",
               low_ratio=0.75, attn="none", distill_ratio=0.25, join="stack", high_op="sc", split="band")
    haar = create("dssdn_large", split="haar", stem="conv")
    assert all(b.split == "haar" for b in haar.cfg.blocks) and all(blk.split == "haar" for blk in haar.blocks)
    assert haar.cfg.stem.kind == "conv" and all(blk.split == "band" for blk in m.blocks)
    cfg = m.cfg
    assert (cfg.stem.kind, cfg.norm_layer, cfg.input_norm, cfg.scales) == ("highlow", "groupnorm1", "resnorm", "last")
    assert all(b.low_ratio == 0.75 and b.attn is None and b.distill_ratio == 0.25 and b.join == "stack"
               for b in cfg.blocks)
    assert all(blk.join == "stack" and blk.high_op == "sc" for blk in m.blocks)
    assert all(b.high_op == "sc" for b in cfg.blocks)
    assert isinstance(m.input_norm, ResNorm) and isinstance(m.scales, LastScale)
    assert m.num_features == cfg.blocks[-1].out_chs
    assert m(torch.randn(2, 1, 256, 44)).shape == (2, 10)


@pytest.mark.parametrize("name", ["dssdn_small", "dssdn_tiny", "dssdn_middle", "dssdn_large"])
def test_registered_stem_split_and_input_norm(name):
    """Every variant: the full-band stem, the Haar split and ClipNorm at the input, measured to hold on unseen devices
    (docs/models.md); the paper's structure stays one set of arguments away."""
    stem, split, norm = "conv", "haar", "clip"
    m = lightops.create_model(name)
    assert m.cfg.stem.kind == stem and {blk.split for blk in m.blocks} == {split} and m.cfg.input_norm == norm
    assert isinstance(m.input_norm, ClipNorm) if norm == "clip" else m.input_norm is None
    bare = lightops.create_model(name, input_norm="none")
    assert bare.input_norm is None and bare.cfg.input_norm is None
    paper = lightops.create_model(name, stem="highlow", split="band", input_norm="none")
    assert paper.cfg.stem.kind == "highlow" and {blk.split for blk in paper.blocks} == {"band"}
    assert paper(torch.randn(1, 1, 256, 44)).shape == (1, 10)


def test_no_option_keeps_the_registered_architecture():
    base = model_cfgs["dssdn_small"]
    assert base.override() == base and base.override(attn=None, input_norm=None) == base
    m = lightops.create_model("dssdn_small")
    assert m.cfg == base and isinstance(m.scales, MultiScaleConcat) and isinstance(m.input_norm, ClipNorm)


@pytest.mark.parametrize("bad,match", [
    (dict(input_norm="batch"), "input_norm must be None or one of"),
    (dict(scales="first"), "scales must be one of"),
    (dict(stem="wide"), "StemCfg.kind must be one of"),
    (dict(low_ratio=1.0), "low_ratio must be in"),
    (dict(join="fold"), "join must be one of"),
    (dict(split="wavelet"), "split must be one of"),
    (dict(join="stack"), "split='haar' halves the bins"),  # Small's Haar split with the stacked join: use bands
])
def test_bad_options_named(bad, match):
    with pytest.raises(ValueError, match=match):
        lightops.create_model("dssdn_small", **bad)


def test_unknown_override_named():
    with pytest.raises(ValueError, match=r"unknown options \['depth'\]"):
        model_cfgs["dssdn_small"].override(depth=3)


def test_options_survive_the_checkpoint_dict():
    cfg = model_cfgs["dssdn_small"].override(input_norm="instance", scales="last", stem="cut", high_op="sc",
                                             split="haar")
    assert DSSDNCfg.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["input_norm"], old["scales"]  # a checkpoint written before these fields existed
    for b in old["blocks"]:
        del b["join"], b["high_op"], b["split"]
    assert DSSDNCfg.from_dict(old) == dataclasses.replace(cfg, input_norm=None, scales="all").override(
        join="add", high_op="none", split="band")


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(2, 12), st.integers(2, 20), st.floats(0.0, 1.0), st.integers(0, 2**16))
def test_resnorm_removes_a_gain_per_bin(c, f, t, lam, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, f, t, generator=gen, dtype=torch.float64)
    gain = 10 * torch.randn(1, c, f, 1, generator=gen, dtype=torch.float64)
    norm = ResNorm(lam)
    # a constant gain per (channel, bin) leaves only the residual term changed
    torch.testing.assert_close(norm(x + gain) - norm(x), (lam * gain).expand_as(x), atol=1e-6, rtol=0)
    y = ResNorm(0.0)(x)
    torch.testing.assert_close(y.mean(3), torch.zeros_like(y.mean(3)), atol=1e-9, rtol=0)
    v = x.var(3, unbiased=False)
    torch.testing.assert_close(y.var(3, unbiased=False), v / (v + norm.eps), atol=1e-9, rtol=1e-9)


def test_resnorm_of_a_constant_bin_is_finite():
    y = ResNorm()(torch.full((1, 1, 4, 8), 3.0))
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.full_like(y, 0.3))


@pytest.mark.parametrize("bad,match", [(dict(lam=-0.1), "lam"), (dict(eps=0.0), "eps")])
def test_resnorm_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        ResNorm(**bad)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(2, 12), st.integers(2, 20), st.floats(0.0, 1.0), st.floats(0.2, 5.0),
       st.floats(-30.0, 30.0), st.integers(0, 2**16))
def test_clipnorm_removes_a_clips_level_and_contrast(c, f, t, lam, scale, offset, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, c, f, t, generator=gen, dtype=torch.float64)
    norm = ClipNorm(lam, eps=1e-12)
    # a level offset and a contrast scale of the whole clip leave only the residual term changed
    torch.testing.assert_close(norm(scale * x + offset) - norm(x), lam * ((scale - 1) * x + offset), atol=1e-6,
                               rtol=0)
    y = ClipNorm(0.0, eps=1e-12)(x)
    torch.testing.assert_close(y.mean((2, 3)), torch.zeros(2, c, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(y.var((2, 3), unbiased=False), torch.ones(2, c, dtype=torch.float64), atol=1e-6,
                               rtol=0)
    # unlike the frequency-wise norm, the spectrum's shape stays: a gain per bin is not removed
    tilt = torch.linspace(-6, 6, f, dtype=torch.float64).reshape(1, 1, f, 1)
    assert f < 2 or (ClipNorm(0.0)(x + tilt) - ClipNorm(0.0)(x)).abs().max() > 1e-3


def test_clipnorm_of_a_constant_clip_is_finite_and_bad_arguments_are_named():
    y = ClipNorm()(torch.full((1, 1, 4, 8), 3.0))
    # the normalised part of a constant is its mean's round-off over sqrt(eps)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.full_like(y, 0.3), atol=1e-4, rtol=0)
    for bad, match in ((dict(lam=-0.1), "lam"), (dict(eps=0.0), "eps")):
        with pytest.raises(ValueError, match=match):
            ClipNorm(**bad)


def test_input_norms_by_name():
    assert isinstance(create_input_norm("clip"), ClipNorm) and create_input_norm("clip").lam == 0.1
    assert isinstance(create_input_norm("resnorm"), ResNorm) and create_input_norm("instance").lam == 0.0
    assert isinstance(create_input_norm(None), torch.nn.Identity)
    with pytest.raises(ValueError, match="input_norm must be None or one of"):
        create_input_norm("layer")
    with pytest.raises(ValueError, match="DSSDNCfg.input_norm"):
        lightops.create_model("dssdn_small", input_norm="layer")


def test_clip_input_norm_makes_the_model_blind_to_a_level_and_contrast_change():
    torch.manual_seed(0)
    m = lightops.create_model("dssdn_small", input_norm="clip").eval()
    m.input_norm.lam = 0.0
    x = torch.randn(2, 1, 256, 44)
    torch.testing.assert_close(m(0.5 * x - 12.0), m(x), atol=1e-4, rtol=1e-4)


def test_instance_input_norm_makes_the_model_blind_to_a_device_gain():
    torch.manual_seed(0)
    m = lightops.create_model("dssdn_small", input_norm="instance").eval()
    x = torch.randn(2, 1, 256, 44)
    gain = torch.linspace(-6, 6, 256).reshape(1, 1, 256, 1)  # a tilted device response in dB
    torch.testing.assert_close(m(x + gain), m(x), atol=1e-4, rtol=1e-4)
    plain = lightops.create_model("dssdn_small").eval()
    assert (plain(x + gain) - plain(x)).abs().max() > 1e-3


@pytest.mark.parametrize("kwargs", [dict(input_norm="resnorm"), dict(input_norm="clip"), dict(scales="last"),
                                    dict(join="stack", split="band"), dict(op="osc", high_op="sc"), dict(split="haar"),
                                    dict(freq_blocks=1), dict(op="osc", freq_blocks=0)])
def test_inference_and_export_forms_keep_the_options(kwargs):
    torch.manual_seed(0)
    m = lightops.create_model("dssdn_small", **kwargs).eval()
    x = torch.randn(2, 1, 256, 44)
    fused = fuse(m)
    exported = fused.export_form((1, 256, 44))
    torch.testing.assert_close(fused(x), m(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(exported(x), m(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name,kwargs", [("dssdn_small", {}), ("dssdn_small", dict(freq_blocks=0)),
                                         ("dssdn_small", dict(freq_blocks=1)), ("dssdn_small", dict(freq_blocks=2)),
                                         ("dssdn_tiny", dict(freq_blocks=3, stem="highlow")),
                                         ("dssdn_large", dict(freq_blocks=2))])
def test_frequency_receptive_fields_match_the_gradient(name, kwargs):
    """``DSSDNCfg.frequency_receptive_fields`` counts the input bins a block's output sees: the span of the input's
    gradient at the centre bin, without channel attention (a global mean) and the input norm."""
    torch.manual_seed(0)
    m = lightops.create_model(name, attn="none", input_norm="none", **kwargs).eval()
    fields = m.cfg.frequency_receptive_fields()
    measured = frequency_receptive_fields(m, (1, 2048, 16), layers=[f"blocks.{i}" for i in range(len(m.blocks))])
    assert list(measured.values()) == list(fields)
    assert lightops.create_model(name, **kwargs).cfg.frequency_receptive_fields() == fields


def test_freq_blocks_bounds_the_frequency_receptive_field():
    """``freq_blocks=n``: blocks from the n-th on filter over time only; each block's field shrinks as ``n`` does,
    the parameters and MACs by the removed frequency taps only, and the option survives the checkpoint dict."""
    full = lightops.create_model("dssdn_small")
    assert full.cfg.frequency_receptive_fields() == (37, 105, 241, 513, 1057)
    prev = full.cfg.frequency_receptive_fields()
    for n in (4, 3, 2, 1, 0):
        m = lightops.create_model("dssdn_small", freq_blocks=n)
        assert [b.freq_kernel for b in m.cfg.blocks] == [3] * n + [1] * (5 - n)
        assert all(blk.freq_kernel == b.freq_kernel for blk, b in zip(m.blocks, m.cfg.blocks))
        fields = m.cfg.frequency_receptive_fields()
        assert all(a <= b for a, b in zip(fields, prev)) and fields[:n] == full.cfg.frequency_receptive_fields()[:n]
        prev = fields
        removed = sum(2 * op.sc.dw.chs for blk in m.blocks[n:] for op in (*blk.refine, blk.last))
        assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in full.parameters()) - removed
        assert m.macs((1, 256, 44)) < full.macs((1, 256, 44))
        assert DSSDNCfg.from_dict(m.cfg.to_dict()) == m.cfg
    assert prev == (5, 9, 17, 33, 65)
    assert lightops.create_model("dssdn_small", freq_blocks=5).cfg == full.cfg
    old = full.cfg.to_dict()
    for b in old["blocks"]:
        del b["freq_kernel"]  # a checkpoint written before the field existed
    assert DSSDNCfg.from_dict(old) == full.cfg


@pytest.mark.parametrize("bad", [-1, 6, 1.5, True, "2"])
def test_bad_freq_blocks_named(bad):
    with pytest.raises(ValueError, match=r"freq_blocks must be an int from 0 to the number of blocks \(5\)"):
        lightops.create_model("dssdn_small", freq_blocks=bad)
    with pytest.raises(ValueError, match="BlockCfg.freq_kernel must be an odd int"):
        dataclasses.replace(model_cfgs["dssdn_small"].blocks[0], freq_kernel=2)


def test_freq_blocks_with_an_operator_that_takes_no_frequency_kernel():
    """A user's operator without ``freq_kernel`` builds as before, and is named when a frequency kernel is asked
    for."""
    from lightops.ops._registry import _OPS
    from tests.utils import PointwiseOnlyOp

    lightops.register_op("plain_test_op")(PointwiseOnlyOp)
    try:
        assert lightops.create_model("dssdn_small", op="plain_test_op")(torch.randn(1, 1, 256, 44)).shape == (1, 10)
        with pytest.raises(ValueError, match="operator 'plain_test_op' takes no freq_kernel argument"):
            lightops.create_model("dssdn_small", op="plain_test_op", freq_blocks=2)
    finally:
        _OPS.pop("plain_test_op", None)
