"""A fake quantizer for QAT activations whose observer sees one batch in ``every``: the histogram observer's range
search at the cost of a min/max fake quantizer.

torchao's ``FakeQuantize`` observes every batch and recomputes its scale after each. With the histogram observer of
XNNPACK's post-training configuration that recomputation is a search over 2048 bins per quantizer: on dssdn_small (1-s
clip, batch 16, one thread) a QAT step took 4.9 times as long as with the QAT configuration's moving-average min/max,
and 1.5 times with one batch in eight observed (``python -m benchmarks.qat_step``, docs/deploy.md). Observing one batch
in ``every`` keeps the histogram observer's ranges (chosen over all values it saw, for the least quantization error; the
first batch is always observed, and ``convert_pt2e`` computes the final ranges from the whole histogram) and divides
that cost by ``every``. Hand-written because torchao has no subsampling fake quantizer.

Needs torchao (the ``edge`` extra); imported only by the QAT flow of :mod:`lightops.deploy.pt2e`.
"""
from typing import Any

import torch
from torchao.quantization.pt2e.fake_quantize import FakeQuantize
from torchao.quantization.pt2e.observer import HistogramObserver

__all__ = ["SubsampledFakeQuantize"]


class SubsampledFakeQuantize(FakeQuantize):
    """Per-tensor fake quantization whose observer sees the first batch and then one in ``every``.

    Between observed batches the input is fake-quantized with the scale and zero point of the last observed one.
    The call count is a buffer, so a QAT state restored from a ``state_dict`` continues the same schedule.

    Args:
        observer: the observer class (default :class:`HistogramObserver`).
        every: observe one batch in this many (>= 1; 1 is torchao's ``FakeQuantize``).
        **kwargs: as ``FakeQuantize`` (``quant_min``, ``quant_max``, the observer's ``dtype``, ``qscheme``, ``eps``).

    Raises:
        ValueError: ``every < 1``, or a per-channel ``qscheme`` (weights keep torchao's fake quantizers).
    """

    def __init__(self, observer: Any = HistogramObserver, every: int = 8, **kwargs: Any) -> None:
        super().__init__(observer=observer, **kwargs)
        if every < 1:
            raise ValueError(f"SubsampledFakeQuantize: every must be >= 1, got {every}")
        if self.is_per_channel:
            raise ValueError("SubsampledFakeQuantize is for per-tensor activations, got a per-channel qscheme")
        self.every = int(every)
        self.register_buffer("calls", torch.zeros(1, dtype=torch.long))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Observe (every ``every``-th call while the observer is enabled) and fake-quantize ``X``."""
        if self.observer_enabled[0] == 1:
            observe = int(self.calls.item()) % self.every == 0
            self.calls += 1
            if observe:
                return super().forward(X)
        if self.fake_quant_enabled[0] != 1:
            return X
        return torch.fake_quantize_per_tensor_affine(X, self.scale, self.zero_point,
                                                     self.activation_post_process.quant_min,
                                                     self.activation_post_process.quant_max)

    def extra_repr(self) -> str:
        """torchao's description plus the subsampling."""
        return f"{super().extra_repr()}, every={self.every}"
