"""``python -m benchmarks.adapt_devices``: each half of a device's clips is scored by the model adapted on the other
half (never on itself), and the table has one row per clips-per-device setting."""
import torch
import torch.nn as nn

from benchmarks import adapt_devices
from lightops.deploy.adapt import adapt_batchnorm


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.BatchNorm2d(1), nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def test_each_half_is_scored_by_the_model_adapted_on_the_other():
    net, x = _net(), torch.randn(7, 1, 5, 4)
    out = adapt_devices.cross_adapted_logits(net, x, clips=2)
    even, odd = torch.arange(0, 7, 2), torch.arange(1, 7, 2)
    with torch.no_grad():
        assert torch.allclose(out[even], adapt_batchnorm(net, [x[odd[:2]]])(x[even]))
        assert torch.allclose(out[odd], adapt_batchnorm(net, [x[even[:2]]])(x[odd]))
    # a clip's own value never sets the statistics it is scored with: change a scored clip that no adaptation reads
    y = x.clone()
    y[6] += 5.0  # even half, index 3 of it: beyond the 2 clips the odd half is adapted on
    moved = adapt_devices.cross_adapted_logits(net, y, clips=2)
    assert torch.allclose(moved[odd], out[odd]) and torch.allclose(moved[[0, 2, 4]], out[[0, 2, 4]])


def test_halves_follow_the_shuffled_order():
    """The adapting clips are a random sample of the device's clips, not the set's first ones (TAU's lists are
    sorted by scene, which gave the statistics one scene)."""
    net, x = _net(), torch.randn(6, 1, 5, 4)
    order = torch.tensor([5, 2, 0, 4, 3, 1])
    out = adapt_devices.cross_adapted_logits(net, x, clips=2, order=order)
    with torch.no_grad():
        assert torch.allclose(out[[5, 0, 3]], adapt_batchnorm(net, [x[[2, 4]]])(x[[5, 0, 3]]))
        assert torch.allclose(out[[2, 4, 1]], adapt_batchnorm(net, [x[[5, 0]]])(x[[2, 4, 1]]))


def test_table_rows_per_clip_setting():
    settings = dict(eval_clips=540, clip_seconds=1.0, data="synthetic", epochs=30)
    rows = [dict(family="tau", model="m", recipe="r", seed=s, code="abc", clips=n, prior=0.0, accuracy=0.5 + n / 100,
                 seen=0.55, unseen=0.4 + n / 100, drop=0.15 - n / 100, per_device={"a": 0.5, "s4": 0.4},
                 settings=settings) for s in (0, 1) for n in (0, 10)]
    text = adapt_devices.markdown(dict(rows=rows, command="python -m benchmarks.adapt_devices x", date="d",
                                       machine="m"))
    assert "Synthetic device family `tau`" in text and "python -m benchmarks.adapt_devices x" in text
    assert "| m | r | 0 | 0 | 50.0 ± 0.0 | 55.0 ± 0.0 | 40.0 ± 0.0 | 15.0 ± 0.0 | 50.0 ± 0.0 | 40.0 ± 0.0 |" in text
    assert "| m | r | 10 | 0 | 60.0 ± 0.0 | 55.0 ± 0.0 | 50.0 ± 0.0 | 5.0 ± 0.0 | 50.0 ± 0.0 | 40.0 ± 0.0 |" in text
