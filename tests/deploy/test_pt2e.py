"""int8 with torchao's PT2E flow on a tiny model: PTQ agrees with fp32, QAT runs and converts, an uncalibrated model
is refused, the program round-trips through a checkpoint, and its weights are stored at 1 byte."""
import pytest
import torch

from tests.deploy.conftest import SMALL_INPUT, make_model

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.pt2e import (  # noqa: E402
    QuantizedModel,
    calibrate,
    convert,
    float_form,
    prepare,
    quantize_ptq,
    quantize_qat,
    top1_agreement,
    uncalibrated_observers,
)


def _inputs(n, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(8, *SMALL_INPUT, generator=gen) for _ in range(n)]


@pytest.fixture(scope="module")
def tiny():
    return LoadedModel(make_model("dssdn_tiny"), name="dssdn_tiny")


@pytest.fixture(scope="module")
def ptq(tiny):
    return quantize_ptq(tiny, _inputs(4, 0), SMALL_INPUT)


def test_ptq_agrees_with_fp32(tiny, ptq):
    x = torch.cat(_inputs(4, 1))
    with torch.no_grad():
        agree, prob = top1_agreement(float_form(tiny, SMALL_INPUT)(x), ptq(x))
    assert agree >= 0.8 and prob < 0.3
    assert ptq.info == {"method": "ptq", "backend": "xnnpack", "form": "memory", "calibration_clips": 32,
                        "qat_epochs": 0}
    nbytes, count = ptq.int8_param_bytes()
    float_params = sum(p.numel() for p in float_form(tiny, SMALL_INPUT).parameters())
    assert count >= 0.95 * float_params and nbytes < 1.2 * count  # int8 weights: about one byte each


def test_program_round_trips_through_the_checkpoint_value(tiny, ptq):
    again = QuantizedModel.from_checkpoint(ptq.to_checkpoint(), tiny.model)
    x = _inputs(1, 2)[0]
    with torch.no_grad():
        assert torch.equal(again(x), ptq(x))
    assert again.info == ptq.info and again.input_size == SMALL_INPUT
    with pytest.raises(ValueError, match="fixed clip length"):
        again(torch.randn(1, 1, SMALL_INPUT[1], SMALL_INPUT[2] + 1))


def test_uncalibrated_observers_are_refused(tiny):
    """Without calibration the observers hold their initial ranges (+-inf): converting would quantize with them."""
    prepared = prepare(float_form(tiny, SMALL_INPUT), SMALL_INPUT)
    assert uncalibrated_observers(prepared)
    with pytest.raises(ValueError, match="never saw data"):
        convert(prepared, SMALL_INPUT)
    assert calibrate(prepared, _inputs(1, 3)) == 8 and not uncalibrated_observers(prepared)


def test_qat_trains_and_converts(tiny):
    data = [(x, torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(i)))
            for i, x in enumerate(_inputs(2, 4))]
    lines = []
    model = quantize_qat(tiny, lambda e: iter(data), SMALL_INPUT, num_epochs=2, lr=1e-5, log=lines.append)
    assert model.info["method"] == "qat" and len(lines) == 2 and "loss" in lines[0]
    x = torch.cat(_inputs(2, 5))
    with torch.no_grad():
        agree, prob = top1_agreement(float_form(tiny, SMALL_INPUT)(x), model(x))
    # random inputs: near-uniform logits (spread about 0.14), whose top-1 flips easily; the probabilities stay close
    # (measured 0.008; an int8 program that lost the model is off by far more)
    assert agree >= 0.5 and prob < 0.05
    with pytest.raises(ValueError, match="num_epochs"):
        quantize_qat(tiny, lambda e: iter(data), SMALL_INPUT, num_epochs=0)
