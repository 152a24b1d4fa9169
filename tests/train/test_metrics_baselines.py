"""Metrics on a hand-made example; the DCASE baseline CNN; model building by name."""
import math

import pytest
import torch

import lightops
from lightops.models import dcase2020_baseline
from lightops.train import build_model, classification_metrics, model_complexity

CLASSES = ["x", "y", "z"]


def test_classification_metrics_by_hand():
    # 6 clips: true labels, predictions (arg-max of the logits) and devices.
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    preds = [0, 1, 1, 1, 2, 0]
    devices = ["a", "a", "b", "b", "s4", "s4"]
    logits = torch.full((6, 3), -1.0)
    logits[range(6), preds] = 1.0
    m = classification_metrics(logits, labels, devices, CLASSES, seen_devices=["a", "b"])
    assert m["accuracy"] == pytest.approx(4 / 6) and m["num_clips"] == 6
    assert m["macro_accuracy"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    p_right = math.exp(1) / (math.exp(1) + 2 * math.exp(-1))
    p_wrong = math.exp(-1) / (math.exp(1) + 2 * math.exp(-1))
    assert m["log_loss"] == pytest.approx(-(4 * math.log(p_right) + 2 * math.log(p_wrong)) / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert {d: (v["accuracy"], v["seen"]) for d, v in m["per_device"].items()} == {
        "a": (0.5, True), "b": (1.0, True), "s4": (0.5, False)}
    assert m["seen"]["devices"] == ["a", "b"] and m["seen"]["accuracy"] == pytest.approx(0.75)
    assert m["seen"]["device_mean_accuracy"] == pytest.approx(0.75) and m["seen"]["num_clips"] == 4
    assert m["unseen"]["devices"] == ["s4"] and m["unseen"]["accuracy"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="labels must lie in"):
        classification_metrics(logits, labels + 1, devices, CLASSES)


def test_dcase_baseline_matches_the_original_grid():
    net = dcase2020_baseline(num_classes=10).eval()
    assert net.forward_features(torch.zeros(2, 1, 40, 500)).shape == (2, 32, 2, 1)  # the original's last grid
    assert net(torch.zeros(2, 1, 256, 44)).shape == (2, 10)
    convs = 16 * 49 + 16 + 16 * 16 * 49 + 16 + 16 * 32 * 49 + 32
    assert sum(p.numel() for p in net.parameters()) == convs + 2 * (16 + 16 + 32) + 64 * 100 + 100 + 100 * 10 + 10
    assert "dcase2020_baseline" not in lightops.list_models()
    with pytest.raises(ValueError, match="F >= 5"):
        net(torch.zeros(1, 1, 4, 44))


def test_build_model_by_name():
    assert isinstance(build_model("dcase2020_baseline", num_classes=3), torch.nn.Module)
    mnv3 = build_model("mobilenetv3_small_050", num_classes=10)
    assert mnv3(torch.zeros(1, 1, 64, 44)).shape == (1, 10)  # in_chans=1 by default
    small = build_model("dssdn_small", width=0.25)
    params, macs = model_complexity(small, (1, 64, 32))
    assert macs == small.macs((1, 64, 32)) and params == sum(p.numel() for p in small.parameters())
    assert model_complexity(mnv3, (1, 64, 44))[1] > 0
