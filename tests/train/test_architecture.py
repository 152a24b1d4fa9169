"""A checkpoint holds the architecture it was trained with and rebuilds it after the name's registered default
changes (as dssdn_small's stem and split once did)."""
import dataclasses

import pytest
import torch

import lightops
from lightops._factory import architecture_kwargs, architecture_of
from lightops.checkpoint import load_model, read_checkpoint
from lightops.models import DSSDNCfg, model_cfgs


def test_checkpoint_rebuilds_its_architecture_after_the_default_changes(trained_tau_run, monkeypatch):
    _, ckpt_path, _ = trained_tau_run
    ckpt = read_checkpoint(ckpt_path)
    arch = DSSDNCfg.from_dict(ckpt["architecture"])
    assert ckpt["model_kwargs"]["width"] == 0.25  # the user's arguments stay as given ...
    assert arch == lightops.create_model("dssdn_small", width=0.25).cfg  # ... and their effect
    before = load_model(ckpt_path).model
    other = dataclasses.replace(model_cfgs["dssdn_small"], stem=dataclasses.replace(arch.stem, kind="highlow"))
    other = other.override(split="band")
    monkeypatch.setitem(model_cfgs, "dssdn_small", other)  # the registered default moves on
    after = load_model(ckpt_path).model
    assert after.cfg == before.cfg == arch
    x = torch.randn(1, *ckpt["input_size"])
    with torch.inference_mode():
        assert torch.equal(after(x), before(x))
    del ckpt["architecture"]  # a checkpoint written without it follows the registry, and says what does not fit
    with pytest.raises(ValueError, match="does not fit dssdn_small") as info:
        load_model(ckpt)
    assert "Unexpected key(s)" in str(info.value) or "Missing key(s)" in str(info.value)  # names what differs
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"checkpoint 'runs/x/last.pt'"):
        load_model(ckpt, source="runs/x/last.pt")


def test_architecture_kwargs_drop_what_the_architecture_holds():
    m = lightops.create_model("dssdn_small", op="osc", width=0.5, attn="none", num_classes=3)
    arch = architecture_of(m)
    kw = architecture_kwargs({"op": "osc", "width": 0.5, "attn": "none", "num_classes": 3}, arch)
    assert kw == {"num_classes": 3, "cfg": arch}
    assert lightops.create_model("dssdn_small", **{**kw, "cfg": DSSDNCfg.from_dict(arch)}).cfg == m.cfg
    assert architecture_of(lightops.create_model("dcase2025_baseline")) is None
    assert architecture_kwargs({"num_classes": 3}, None) == {"num_classes": 3}
