"""A log-mel map of the wrong dtype is named at the model's input, with the conversion that fixes it; the dtypes
that work keep working (a model converted to the input's dtype, autocast, the scripted inference form)."""
import pytest
import torch

import lightops
from lightops.deploy.freeze import freeze

MODELS = [("dssdn_small", {}, "DSSDN"), ("dssdn_small", dict(stem="highlow", split="band"), "DSSDN"),
          ("dssdn_small", dict(stem="cut"), "DSSDN"), ("dcase2025_baseline", {}, "CPMobile"),
          ("dcase2020_baseline", {}, "DCASEBaselineCNN")]


def _model(name, kwargs):
    torch.manual_seed(0)
    return lightops.create_model(name, **kwargs).eval()


@pytest.mark.parametrize("name,kwargs,label", MODELS)
def test_wrong_dtype_is_named(name, kwargs, label):
    model = _model(name, kwargs)
    x = torch.randn(1, 1, 128, 48)
    with pytest.raises(ValueError, match=rf"{label}: the input is torch.float64 but the model's weights are "
                                         r"torch.float32; convert the input \(x.to\(torch.float32\)\)"):
        model(x.double())  # what torch.from_numpy gives for NumPy's default arrays
    with pytest.raises(ValueError, match=rf"{label}: the input is torch.float16"):
        model(x.half())
    with pytest.raises(ValueError, match=rf"{label}: expected a floating-point input .* got dtype torch.int64"):
        model(x.long())


@pytest.mark.parametrize("name,kwargs,label", MODELS)
def test_what_is_not_a_tensor_is_named(name, kwargs, label):
    model = _model(name, kwargs)
    for x in (torch.randn(1, 1, 128, 48).numpy(), None, [[1.0]]):
        with pytest.raises(TypeError, match=rf"{label}: expected a torch.Tensor .* got {type(x).__name__}"):
            model(x)


@pytest.mark.parametrize("name,kwargs,label", MODELS)
def test_matching_dtypes_autocast_and_script_still_run(name, kwargs, label):
    model = _model(name, kwargs)
    x = torch.randn(1, 1, 128, 48)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts for itself: a bf16 input is fine
            assert model(x.bfloat16()).shape == ref.shape
        torch.testing.assert_close(model.double()(x.double()).float(), ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(freeze(model.float())(x), ref, atol=1e-4, rtol=1e-4)


def test_stems_name_the_dtype():
    from lightops.stems import create_stem

    for kind in ("conv", "cut", "highlow"):
        stem = create_stem(kind, 1, 8).eval()
        with pytest.raises(ValueError, match=r"Stem: the input is torch.float64"):
            stem(torch.randn(1, 1, 32, 16, dtype=torch.float64))
        assert stem.first_weight().dtype == torch.float32


@pytest.mark.parametrize("op", ["sc", "osc", "spc"])
def test_operators_name_the_dtype(op):
    layer = lightops.create_op(op, 8, 8).eval()
    x = torch.randn(1, 8, 16, 12)
    # SPC: its partial SC names it (the SC may be a conv chain in a deployed form, where checks are gone)
    with pytest.raises(ValueError, match=r"(SeparableConv2d|OrthoSeparableConv2d): the input is torch.float64"):
        layer(x.double())
    assert layer.double()(x.double()).dtype == torch.float64


def test_a_block_names_too_few_bins_to_split():
    from lightops.blocks import DSSDB

    with pytest.raises(ValueError, match=r"DSSDB: needs F >= 2 frequency bins to split into bands, got shape \[1, 8"):
        DSSDB(8, 16).eval()(torch.randn(1, 8, 1, 16))
