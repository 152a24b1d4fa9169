"""The int8 dssdn_small program holds the model's own weights (SPC partial): within DCASE's 128,000 bytes of
parameter memory, counted the organisers' way (1 byte per int8 value, the dtype's bytes for the others)."""
import pytest
import torch

from tests.deploy.conftest import make_model

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.pt2e import quantize_ptq, top1_agreement  # noqa: E402

MAX_PARAM_BYTES = 128_000  # DCASE 2025 Task 1


@pytest.mark.parametrize("split", ["band", "haar"])
def test_int8_dssdn_small_fits_the_dcase_parameter_memory(split):
    """Either frequency split: a Haar split's high path stays the trained 1x1 (not the speed form's ``(2, 1)``
    convolution with twice its weights)."""
    model = make_model("dssdn_small", split=split)
    size = tuple(model.pretrained_cfg["input_size"])  # (1, 256, 44): the 1-s clip it is budgeted on
    x = torch.randn(4, *size, generator=torch.Generator().manual_seed(0))
    q = quantize_ptq(LoadedModel(model, name="dssdn_small"), [x], size)  # random calibration: bytes need no training
    nbytes, count = q.int8_param_bytes()
    params = sum(p.numel() for p in model.parameters())
    assert nbytes <= MAX_PARAM_BYTES, f"int8 dssdn_small stores {nbytes:,} B of parameters"
    assert count <= params  # no full-width SPC copies: at most the trained model's own values (norms folded)
    with torch.no_grad():
        agree, prob = top1_agreement(model(x), q(x))
    assert agree >= 0.75 and prob < 0.1
