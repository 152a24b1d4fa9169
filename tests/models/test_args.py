"""Model arguments checked at construction, by lightops.create_model and timm.create_model alike."""
import pytest
import timm
import torch

import lightops


@pytest.mark.parametrize("create", [lightops.create_model, timm.create_model])
@pytest.mark.parametrize("kwargs,match", [
    ({"num_classes": -1}, "num_classes must be an int >= 0"),
    ({"num_classes": 2.5}, "num_classes must be an int >= 0"),
    ({"width": 0}, "width must be a positive number"),
    ({"width": -0.5}, "width must be a positive number"),
    ({"drop_rate": 1.0}, r"drop_rate must be a number in \[0, 1\)"),
    ({"drop_rate": -0.1}, r"drop_rate must be a number in \[0, 1\)"),
    ({"drop_path_rate": 1.5}, r"drop_path_rate must be a number in \[0, 1\)"),
])
def test_bad_arguments_rejected(create, kwargs, match):
    with pytest.raises(ValueError, match=match):
        create("dssdn_small", **kwargs)


def test_no_classifier_is_allowed():
    model = lightops.create_model("dssdn_small", num_classes=0).eval()
    assert model(torch.randn(1, 1, 64, 48)).shape == (1, model.num_features)


def test_reset_classifier_keeps_device_and_dtype():
    model = lightops.create_model("dssdn_small").to(device="meta", dtype=torch.float64)
    model.reset_classifier(2)
    assert model.head.fc.weight.device.type == "meta" and model.head.fc.weight.dtype == torch.float64
    assert model.num_classes == 2
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-3)
