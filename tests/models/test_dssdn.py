"""The timm model contract and the budgets, for every registered lightops model."""
import json

import pytest
import timm
import torch

import lightops
from lightops.budgets import BUDGETS
from lightops.models import DSSDN, BlockCfg, DSSDNCfg, StemCfg
from tests.utils import flop_counter_macs

MODELS = lightops.list_models()
SMALL_INPUT = (1, 64, 48)  # (C, F, T): enough bins for five halvings, fast on CPU

# DESIGN.md budget table, written out once here as the specification the constants must match:
# name -> (max params, input (C, F, T), max MACs)
DESIGN_BUDGETS = {
    "dssdn_large": (1_000_000, (1, 256, 431), 1_000_000_000),
    "dssdn_middle": (400_000, (1, 256, 431), 500_000_000),
    "dssdn_small": (128_000, (1, 256, 44), 30_000_000),
    # DESIGN.md's DCASE 2025 rules: 128,000 B of parameters at fp16 and 30 MMACs on the baseline's (1, 256, 65)
    "dssdn_tiny": (64_000, (1, 256, 65), 30_000_000),
}
EXPECTED_OPS = {"dssdn_large": "sc", "dssdn_middle": "osc", "dssdn_small": "spc", "dssdn_tiny": "spc"}


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    torch.manual_seed(0)
    return lightops.create_model(request.param).eval()


def test_registry():
    assert MODELS == ["dssdn_large", "dssdn_middle", "dssdn_small", "dssdn_tiny"]
    assert set(MODELS) <= set(timm.list_models("dssdn*"))
    assert lightops.list_models("*small") == ["dssdn_small"]
    assert "resnet50" not in lightops.list_models("*")
    assert isinstance(timm.create_model("dssdn_small"), DSSDN)


@pytest.mark.parametrize("name", MODELS)
def test_variant_operator(name):
    m = lightops.create_model(name)
    assert {b.op for b in m.cfg.blocks} == {EXPECTED_OPS[name]}
    assert len(m.blocks) == 5


@pytest.mark.parametrize("batch", [1, 3])
def test_forward_shape_no_nan(model, batch):
    with torch.no_grad():
        y = model(torch.randn(batch, *SMALL_INPUT))
    assert y.shape == (batch, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("frames", [16, 44, 100, 217, 431])
def test_clip_lengths_1s_to_10s(model, frames):
    with torch.no_grad():
        assert model(torch.randn(1, 1, 256, frames)).shape == (1, 10)


def test_backward_reaches_every_parameter(model):
    model.train()
    try:
        model(torch.randn(2, *SMALL_INPUT)).logsumexp(1).sum().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
        assert not missing
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()


def test_features_and_head(model):
    x = torch.randn(2, *SMALL_INPUT)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.ndim == 4 and feats.shape[1] == model.num_features
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.num_features)
        assert model.head_hidden_size == model.num_features
        assert torch.equal(model.forward_head(feats), model(x))
        assert model.get_classifier() is model.head.fc


def test_reset_classifier():
    m = lightops.create_model("dssdn_small").eval()
    x = torch.randn(2, *SMALL_INPUT)
    m.reset_classifier(0)
    assert m(x).shape == (2, m.num_features) and m.num_classes == 0
    m.reset_classifier(0, "")
    assert m(x).ndim == 4 and m(x).shape[1] == m.num_features
    m.reset_classifier(5, "avg")
    assert m(x).shape == (2, 5)
    m = lightops.create_model("dssdn_small", num_classes=7, global_pool="max").eval()
    assert m(x).shape == (2, 7)


@pytest.mark.parametrize("name", MODELS)
def test_features_only(name):
    m = timm.create_model(name, features_only=True).eval()
    full = lightops.create_model(name)
    with torch.no_grad():
        maps = m(torch.randn(2, *SMALL_INPUT))
    assert len(maps) == 5
    assert [f.shape[1] for f in maps] == m.feature_info.channels() == [b["num_chs"] for b in full.feature_info]


def test_eval_deterministic(model):
    x = torch.randn(2, *SMALL_INPUT)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_torch_export(model):
    ep = torch.export.export(model, (torch.randn(2, *SMALL_INPUT),))
    x = torch.randn(2, *SMALL_INPUT)
    with torch.no_grad():
        assert torch.allclose(ep.module()(x), model(x), atol=1e-5)


def test_fx_and_torchscript(model):
    x = torch.randn(2, *SMALL_INPUT)
    with torch.no_grad():
        ref = model(x)
        assert torch.allclose(torch.fx.symbolic_trace(model)(x), ref, atol=1e-5)
        assert torch.allclose(torch.jit.script(model)(x), ref, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_meta_device_and_bfloat16(name):
    m = lightops.create_model(name, device="meta")
    assert all(p.device.type == "meta" for p in m.parameters())
    assert m(torch.randn(2, *SMALL_INPUT, device="meta")).shape == (2, 10)
    m = lightops.create_model(name, dtype=torch.bfloat16).eval()
    assert all(p.dtype == torch.bfloat16 for p in m.parameters())
    with torch.no_grad():
        y = m(torch.randn(2, *SMALL_INPUT, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


def test_budget_constants_match_design():
    assert {n: (b.max_params, b.input_size, b.max_macs) for n, b in BUDGETS.items()} == DESIGN_BUDGETS


@pytest.mark.parametrize("name", MODELS)
def test_budget(name):
    budget = BUDGETS[name]
    max_params, size, max_macs = budget.max_params, budget.input_size, budget.max_macs
    m = lightops.create_model(name).eval()
    params = sum(p.numel() for p in m.parameters())
    macs = flop_counter_macs(m, torch.randn(1, *size))
    assert params <= max_params, f"{name}: {params} params > {max_params}"
    assert macs <= max_macs, f"{name}: {macs} MACs > {max_macs}"
    assert m.macs(size) == macs


@pytest.mark.parametrize("op", lightops.list_ops())
@pytest.mark.parametrize("name", MODELS)
def test_every_op_plugs_into_every_variant(name, op):
    m = lightops.create_model(name, op=op).eval()
    assert {b.op for b in m.cfg.blocks} == {op}
    x = torch.randn(1, *SMALL_INPUT)
    assert m.macs(SMALL_INPUT) == flop_counter_macs(m, x)


def test_pretrained_cfg(model):
    cfg = model.pretrained_cfg
    for key in ("input_size", "num_classes", "first_conv", "classifier", "pool_size", "min_input_size",
                "sample_rate", "n_fft", "hop_length", "n_mels"):
        assert key in cfg, key
    # dssdn_tiny is sized for the DCASE 2025 baseline's front end (32 kHz, hop 500: a 1-s clip is (1, 256, 65))
    audio = (32000, 4096, 500, 256) if cfg["architecture"] == "dssdn_tiny" else (44100, 4096, 1024, 256)
    assert (cfg["sample_rate"], cfg["n_fft"], cfg["hop_length"], cfg["n_mels"]) == audio
    assert cfg["input_size"][1] == cfg["n_mels"]
    assert tuple(cfg["pool_size"]) == model.stage_sizes(cfg["input_size"])[-1][1:]
    assert tuple(cfg["min_input_size"]) == (model.in_chans, model.min_bins, model.min_frames)
    assert dict(model.named_modules())[cfg["first_conv"]].in_channels == model.in_chans
    assert dict(model.named_modules())[cfg["classifier"]] is model.get_classifier()
    with torch.no_grad():  # the smallest input works, one bin or frame fewer does not
        model(torch.randn(1, *cfg["min_input_size"]))
    with pytest.raises(ValueError):
        model(torch.randn(1, 1, model.min_bins - 1, model.min_frames))


def test_kwargs():
    m = lightops.create_model("dssdn_small", num_classes=3, in_chans=2, drop_rate=0.2, drop_path_rate=0.1)
    assert m(torch.randn(2, 2, 64, 48)).shape == (2, 3) and m.head.drop.p == 0.2
    wide = lightops.create_model("dssdn_small", width=1.5)
    assert wide.cfg.blocks[0].out_chs == 48
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in m.parameters())
    with pytest.raises(TypeError, match="no_such_arg"):
        lightops.create_model("dssdn_small", no_such_arg=1)
    with pytest.raises(TypeError, match="no_such_arg"):
        timm.create_model("dssdn_large", no_such_arg=1)
    with pytest.raises(ValueError, match="unknown model 'dssdn_nano'"):
        lightops.create_model("dssdn_nano")
    with pytest.raises(ValueError, match="width"):
        lightops.create_model("dssdn_small", width=0)
    with pytest.raises(ValueError, match="unknown operator"):
        lightops.create_model("dssdn_small", op="conv9")


def test_bad_input_names_expected_shape():
    m = lightops.create_model("dssdn_small").eval()
    with pytest.raises(ValueError, match=r"\(B, 1, F, T\)"):
        m(torch.randn(2, 3, 64, 48))
    with pytest.raises(ValueError, match=r"\(B, 1, F, T\)"):
        m(torch.randn(64, 48))
    with pytest.raises(ValueError, match=rf"F >= {m.min_bins} mel bins"):
        m(torch.randn(1, 1, 16, 48))
    with pytest.raises(ValueError, match=rf"T >= {m.min_frames} frames"):
        m(torch.randn(1, 1, 64, 4))
    with pytest.raises(ValueError, match="F >= "):
        m.macs((1, 8, 100))


# ---- typed architecture config --------------------------------------------------------------------------------

def test_cfg_round_trip_and_custom_net():
    cfg = DSSDNCfg(stem=StemCfg("cut", 16, ratio=0.75),
                   blocks=(BlockCfg(24, op="sc"), BlockCfg(32, op="osc", op_kwargs=(("orthogonal", "exact"),)),
                           BlockCfg(40, op="spc", attn="cca", time_pool=2)))
    again = DSSDNCfg.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    m = lightops.create_model("dssdn_small", cfg=cfg).eval()
    assert [b.op_name for b in m.blocks] == ["sc", "osc", "spc"] and len(m.feature_info) == 3
    x = torch.randn(1, 1, 64, 48)
    assert m(x).shape == (1, 10) and m.macs((1, 64, 48)) == flop_counter_macs(m, x)


@pytest.mark.parametrize("bad,match", [
    (lambda: BlockCfg(0), "out_chs"),
    (lambda: BlockCfg(8, op="nope"), "unknown operator"),
    (lambda: BlockCfg(8, low_ratio=1.0), "low_ratio"),
    (lambda: BlockCfg(8, attn="se"), "attn"),
    (lambda: StemCfg("fancy"), "kind"),
    (lambda: DSSDNCfg(blocks=()), "blocks"),
])
def test_invalid_cfg(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_too_many_frequency_halvings_fail_at_construction():
    cfg = DSSDNCfg(blocks=tuple(BlockCfg(8) for _ in range(8)), n_mels=64)
    with pytest.raises(ValueError, match=r"DSSDNCfg.blocks: 8 frequency splits need at least \d+ mel bins.*n_mels=64"):
        DSSDN(cfg)
    assert DSSDN(DSSDNCfg(blocks=tuple(BlockCfg(8) for _ in range(8)), n_mels=512)).min_bins <= 512


@pytest.mark.parametrize("act", ["gelu", "silu", torch.nn.GELU])
def test_activation_choices(act):
    from dataclasses import replace

    cfg = replace(lightops.models.model_cfgs["dssdn_small"], act_layer=act)
    m = DSSDN(cfg).eval()
    with torch.no_grad():
        assert torch.isfinite(m(torch.randn(1, *SMALL_INPUT))).all()
    assert lightops.SC(4, 4, act_layer=act)(torch.randn(1, 4, 3, 3)).shape == (1, 4, 3, 3)
