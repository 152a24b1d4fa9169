"""Residual frequency-wise normalisation at a model's input (ResNorm, Kim et al., DCASE 2021 Task 1a).

A recording device colours a log-mel spectrogram mostly by a gain per frequency bin that does not change over a
clip: ``x'(f, t) = x(f, t) + g(f)``. Normalising every bin by its own mean and standard deviation over time removes
that gain exactly, and with it the scene's stationary spectrum, which carries class information; the residual term
``lam * x`` keeps a little of it. Kim et al., "Domain Generalization on Efficient Acoustic Scene Classification
using Residual Normalization", DCASE 2021 (arXiv 2111.06531).
"""
import torch
import torch.nn as nn

from ..validation import check_float

__all__ = ["ResNorm"]


class ResNorm(nn.Module):
    """``lam * x + (x - mean_t(x)) / sqrt(var_t(x) + eps)``, the statistics per example, channel and frequency bin.

    ``lam = 0`` is the plain frequency-wise instance norm. No parameters; ``eps`` keeps a constant bin finite (its
    normalised part is then 0).

    Params: 0. MACs: 0 (no weights; about 6 element-wise operations per input element, which MAC counters such as
    ``torch.utils.flop_counter`` do not count either).

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    """

    def __init__(self, lam: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.lam = check_float(lam, "ResNorm: lam", minimum=0.0)
        self.eps = check_float(eps, "ResNorm: eps", minimum=0.0, open_min=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        mean = x.mean(dim=3, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=3, keepdim=True)
        return self.lam * x + centred / torch.sqrt(var + self.eps)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, eps={self.eps}"
