"""Residual per-clip standardisation at a model's input: the clip's level and contrast taken out, its spectrum kept.

A recording chain sets how loud a clip is (a microphone's sensitivity, a gain stage) and how far its levels spread
(a compressor or limiter, a noise floor that fills the quiet bins): in a log-mel spectrogram, to first order, an
offset of all values and a scale of their spread. Standardising each clip by the mean and standard deviation of all
its bins and frames removes both and, unlike the frequency-wise ResNorm, keeps the shape of the spectrum and its
changes over time, which carry the scene; the residual term ``lam * x`` keeps a little of the absolute level, which
carries some of it too (a street is louder than a library). Per-utterance mean and variance normalisation is the
speech recognisers' long-standing form of the same idea; this is its whole-spectrogram variant.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..validation import check_float

__all__ = ["ClipNorm"]


class ClipNorm(nn.Module):
    """``lam * x + (x - mean_ft(x)) / sqrt(var_ft(x) + eps)``, the statistics per example and channel over all bins
    and frames.

    ``lam = 0`` is the plain per-clip standardisation. No parameters; ``eps`` keeps a constant clip finite (its
    normalised part is then 0).

    Params: 0. MACs: 0 (no weights; about 6 element-wise operations per input element, which MAC counters such as
    ``torch.utils.flop_counter`` do not count either).

    The normalised part is ``F.instance_norm`` (no running statistics, no affine): one ``InstanceNormalization`` node
    in ONNX instead of nine; ExecuTorch's export spells it out as means for XNNPACK
    (:func:`lightops.deploy.executorch.xnnpack_rewrites`).

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    """

    def __init__(self, lam: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.lam = check_float(lam, "ClipNorm: lam", minimum=0.0)
        self.eps = check_float(eps, "ClipNorm: eps", minimum=0.0, open_min=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        return self.lam * x + F.instance_norm(x, eps=self.eps)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, eps={self.eps}"
