"""SubsampledFakeQuantize: the observer sees the first batch and one in ``every``, the schedule survives a
``state_dict`` round trip, and between observed batches the input is fake-quantized with the last observed range."""
import copy

import pytest
import torch

pytest.importorskip("torchao")

from lightops.deploy.fake_quantize import SubsampledFakeQuantize  # noqa: E402


def _make(every=4):
    return SubsampledFakeQuantize(every=every, quant_min=-128, quant_max=127, dtype=torch.qint8,
                                  qscheme=torch.per_tensor_affine, eps=2 ** -12)


def _batches(n):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(4, 100, generator=gen) * (1 + i) for i in range(n)]


def test_the_observer_sees_the_first_batch_and_one_in_every():
    fq, xs = _make(every=4), _batches(9)
    for x in xs:
        fq(x)
    # observed: calls 0, 4, 8 -> three batches of 400 values in the histogram
    assert int(fq.activation_post_process.histogram.sum()) == 3 * 400
    scale = float(fq.scale)
    assert scale == pytest.approx(float(fq.calculate_qparams()[0]), rel=1e-6)  # the last call was observed
    # an unobserved call quantizes with the range of the last observed batch
    fq(xs[0])
    assert float(fq.scale) == scale and int(fq.calls) == 10
    again = _make(every=4)
    for x in xs[:5]:  # calls 0-4: observed at 0 and 4
        again(x)
    scale4, zero4 = again.scale.clone(), again.zero_point.clone()
    assert torch.equal(again(xs[5]), torch.fake_quantize_per_tensor_affine(xs[5], scale4, zero4, -128, 127))
    assert torch.equal(again.scale, scale4)  # unchanged by the unobserved call


def test_every_one_is_torchaos_fake_quantize():
    from torchao.quantization.pt2e.fake_quantize import FakeQuantize
    from torchao.quantization.pt2e.observer import HistogramObserver

    ours = _make(every=1)
    theirs = FakeQuantize(observer=HistogramObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                          qscheme=torch.per_tensor_affine, eps=2 ** -12)
    for x in _batches(3):
        assert torch.equal(ours(x), theirs(x))
    assert torch.equal(ours.scale, theirs.scale)


def test_the_schedule_survives_a_state_dict_round_trip():
    a, xs = _make(every=3), _batches(8)
    for x in xs[:5]:
        a(x)
    b = _make(every=3)
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # a copy, as from a file: HistogramObserver keeps the tensors
    for x in xs[5:]:
        assert torch.equal(a(x), b(x))
    assert torch.equal(a.activation_post_process.histogram, b.activation_post_process.histogram)


def test_disabled_observer_and_bad_arguments():
    fq = _make(every=2)
    fq(_batches(1)[0])
    fq.disable_observer()
    calls = int(fq.calls)
    fq(_batches(2)[1])
    assert int(fq.calls) == calls  # a disabled observer counts nothing
    with pytest.raises(ValueError, match="every"):
        _make(every=0)
    from torchao.quantization.pt2e.observer import PerChannelMinMaxObserver

    with pytest.raises(ValueError, match="per-channel"):
        SubsampledFakeQuantize(observer=PerChannelMinMaxObserver, every=2, quant_min=-127, quant_max=127,
                               dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
