"""DSSDN behaviour a MAC counter cannot see: the deep path of every block reads its low band (the lowest bins, or the
pair means of a Haar split); activations matter."""
import pytest
import torch

import lightops
from lightops.models import DSSDNCfg, model_cfgs
from lightops.ops import bands


@pytest.mark.parametrize("name", lightops.list_models())
def test_every_block_feeds_its_deep_path_the_low_band(name):
    torch.manual_seed(0)
    model = lightops.create_model(name, width=0.25).eval()
    seen = {}
    handles = []
    for i, blk in enumerate(model.blocks):
        handles.append(blk.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("in", i), a[0])))
        handles.append(blk.refine[0].register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(("deep", i), a[0])))
    with torch.no_grad():
        model(torch.randn(1, 1, 64, 48))
    for h in handles:
        h.remove()
    for i, blk in enumerate(model.blocks):
        x = seen[("in", i)]
        if blk.split == "haar":
            low = (x[:, :, 0::2] + x[:, :, 1::2]) / 2  # 64 bins at the input: every count even
        else:
            low = x[:, :, : bands.low_band_bins(x.shape[2], blk.low_ratio)]
        torch.testing.assert_close(seen[("deep", i)], low, atol=1e-6, rtol=0, msg=f"block {i}")


def test_activation_choice_changes_the_model():
    torch.manual_seed(0)
    cfg = model_cfgs["dssdn_small"]
    relu = lightops.create_model("dssdn_small", cfg=cfg, width=0.5).eval()
    gelu = lightops.create_model("dssdn_small", cfg=DSSDNCfg(**{**cfg.__dict__, "act_layer": "gelu"}), width=0.5).eval()
    gelu.load_state_dict(relu.state_dict())
    x = torch.randn(1, 1, 64, 48)
    with torch.no_grad():
        assert not torch.allclose(relu(x), gelu(x))


def test_conv_stem_model():
    from lightops.models import StemCfg

    cfg = model_cfgs["dssdn_small"]
    model = lightops.create_model("dssdn_small", cfg=DSSDNCfg(**{**cfg.__dict__, "stem": StemCfg("conv", 24)})).eval()
    x = torch.randn(1, 1, 64, 48)
    with torch.no_grad():
        y = model(x)
        x2 = x.clone()
        x2[:, :, -8:] += 2.0  # with a full-band stem the top bins reach the output
        assert y.shape == (1, 10) and not torch.allclose(model(x2), y)
    from tests.utils import flop_counter_macs

    assert model.macs((1, 64, 48)) == flop_counter_macs(model, x)
