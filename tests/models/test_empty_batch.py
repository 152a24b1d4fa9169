"""An empty batch: DSSDN names it (its ECA and Haar split reshape with -1, undefined for 0 clips); the DCASE 2025
baseline, with no such reshape, returns empty logits. The scripted inference form keeps the check."""
import pytest
import torch

import lightops
from lightops.deploy.freeze import freeze


@pytest.mark.parametrize("kwargs", [{}, dict(stem="highlow", split="band")])
def test_dssdn_names_an_empty_batch(kwargs):
    model = lightops.create_model("dssdn_small", **kwargs).eval()
    with pytest.raises(ValueError, match=r"DSSDN: the batch is empty \(shape \[0, 1, 128, 48\]\)"):
        model(torch.zeros(0, 1, 128, 48))
    assert model(torch.zeros(1, 1, 128, 48)).shape == (1, 10)


def test_scripted_dssdn_names_an_empty_batch():
    frozen = freeze(lightops.create_model("dssdn_small").eval())
    with pytest.raises(Exception, match="the batch is empty"):
        frozen(torch.zeros(0, 1, 128, 48))


def test_baseline_returns_empty_logits():
    assert lightops.create_model("dcase2025_baseline").eval()(torch.zeros(0, 1, 128, 48)).shape == (0, 10)
