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
                        "qat_epochs": 0, "activation_observer": "HistogramObserver"}
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
    assert model.info["activation_observer"] == "HistogramObserver, 1 batch in 8"
    x = torch.cat(_inputs(2, 5))
    with torch.no_grad():
        agree, prob = top1_agreement(float_form(tiny, SMALL_INPUT)(x), model(x))
    # random inputs: near-uniform logits (spread about 0.14), whose top-1 flips easily; the probabilities stay close
    # (measured 0.008; an int8 program that lost the model is off by far more)
    assert agree >= 0.5 and prob < 0.05
    with pytest.raises(ValueError, match="num_epochs"):
        quantize_qat(tiny, lambda e: iter(data), SMALL_INPUT, num_epochs=0)


def test_qat_activations_take_their_range_from_a_histogram(tiny):
    """XNNPACK's QAT config observes activations by a moving average of each batch's min/max; ``prepare(qat=True)``
    gives them the post-training config's histogram observer instead (ranges chosen over all data seen, by least
    quantization error: the ranges PTQ calibrates), which cost dssdn_small 0.25-0.43 points against 1.36 with
    min/max. Weights stay per-channel min/max; ``qat_observer="minmax"`` keeps the backend's config as it is."""
    from torchao.quantization.pt2e.fake_quantize import FakeQuantizeBase
    from torchao.quantization.pt2e.observer import HistogramObserver, PerChannelMinMaxObserver

    from lightops.deploy.fake_quantize import SubsampledFakeQuantize
    from lightops.deploy.pt2e import QAT_OBSERVE_EVERY

    def quantizers(prepared):
        found = [m for m in prepared.modules() if isinstance(m, FakeQuantizeBase)]
        activations = [m for m in found if m.qscheme == torch.per_tensor_affine]
        weights = [m for m in found if m.qscheme == torch.per_channel_symmetric]
        assert activations and weights and len(activations) + len(weights) == len(found)
        assert all(isinstance(m.activation_post_process, PerChannelMinMaxObserver) for m in weights)
        return activations

    x = torch.cat(_inputs(2, 6))
    hist = prepare(float_form(tiny, SMALL_INPUT), SMALL_INPUT, qat=True)
    assert all(isinstance(m.activation_post_process, HistogramObserver) for m in quantizers(hist))
    # observing one batch in QAT_OBSERVE_EVERY: the range search on every batch made a QAT step 4.9x as long
    assert all(isinstance(m, SubsampledFakeQuantize) and m.every == QAT_OBSERVE_EVERY for m in quantizers(hist))
    plain = prepare(float_form(tiny, SMALL_INPUT), SMALL_INPUT, qat=True, qat_observer="minmax")
    assert not any(isinstance(m.activation_post_process, HistogramObserver) for m in quantizers(plain))
    hist(x)
    plain(x)
    ptq = prepare(float_form(tiny, SMALL_INPUT), SMALL_INPUT)
    calibrate(ptq, [x])
    def input_scale(net):  # the input's quantizer: the same values in all three (later ones differ in QAT)
        from torchao.quantization.pt2e.observer import ObserverBase

        node = next(u for n in net.graph.nodes if n.op == "placeholder" for u in n.users if u.op == "call_module"
                    and isinstance(net.get_submodule(u.target), (FakeQuantizeBase, ObserverBase)))
        return float(net.get_submodule(node.target).calculate_qparams()[0])

    qat_scale, minmax_scale, ptq_scale = (input_scale(net) for net in (hist, plain, ptq))
    assert qat_scale == pytest.approx(ptq_scale, rel=1e-6)  # QAT's range is the one PTQ calibrates
    assert minmax_scale == pytest.approx(float(x.max() - x.min()) / 255, rel=1e-6)
    assert abs(minmax_scale - qat_scale) > 1e-4 * qat_scale
    with pytest.raises(ValueError, match="qat_observer"):
        prepare(float_form(tiny, SMALL_INPUT), SMALL_INPUT, qat=True, qat_observer="mse")


@pytest.mark.slow
def test_time_only_blocks_quantize_and_lower(tmp_path):
    """``freq_blocks``: operators with a 1-tap frequency kernel go through PTQ and the ExecuTorch int8 export like
    the others (their depthwise 1x1 included)."""
    from lightops.deploy import export_executorch

    loaded = LoadedModel(make_model("dssdn_tiny", freq_blocks=1), name="dssdn_tiny")
    q = quantize_ptq(loaded, _inputs(2, 0), SMALL_INPUT)
    x = torch.cat(_inputs(2, 1))
    with torch.no_grad():
        agree, prob = top1_agreement(float_form(loaded, SMALL_INPUT)(x), q(x))
    assert agree >= 0.8 and prob < 0.3
    result = export_executorch(LoadedModel(q, name="dssdn_tiny"), tmp_path / "fb1.pte", checks=4)
    assert result.delegation.portable_ops == 0 and result.delegation.delegates == 1
