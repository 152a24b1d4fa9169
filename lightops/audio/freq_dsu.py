"""Freq-DSU: draw new per-frequency statistics for each log-mel example from the spread the batch itself shows,
so that a model meets device colourings beyond the ones it hears (DSU, "Uncertainty Modeling for
Out-of-Distribution Generalization", Li et al., ICLR 2022, taken to the frequency axis as Freq-MixStyle takes
MixStyle there).

Freq-MixStyle (:class:`~lightops.audio.FreqMixStyle`) moves an example's per-bin statistics onto the segment
between its own and another example's: the new statistics stay inside what the training devices span. DSU instead
treats the statistics as uncertain, with the batch's own spread as their uncertainty, and draws them from a
Gaussian around the example's own, which reaches past the devices in the batch. Here the Gaussian has the batch's
full covariance over bins (its deviations are random combinations of the batch's own deviations), so the drawn
responses are as smooth across frequency, and the mean and the spread of a bin move together, as they do between
the batch's recordings; no response is built from any device of the synthetic families::

    x (B, C, F, T): mu = mean over (C, T), s = log std over (C, T)       (B, F) each, no gradient through them
    D = [mu - mean_b mu, s - mean_b s]                                    (B, 2F): the batch's deviations
    z ~ N(0, 1)^(B x B);  [dmu, ds] = factor * z @ D / sqrt(B - 1)        covariance factor^2 * Cov_b([mu, s])
    out = (x - mu) / exp(s) * exp(s + ds) + mu + dmu

The spread is taken in log std, so that the drawn standard deviations stay positive (DSU perturbs the std
itself). With probability ``p`` the whole batch is re-styled, else it passes unchanged; the module is the identity
in eval mode.
"""
import math
from typing import Optional

import torch
import torch.nn as nn

from ..validation import check_float
from .augment import generator_device
from .freq_mixstyle import restyles_batch

__all__ = ["FreqDSU"]


class FreqDSU(nn.Module):
    """Freq-DSU on log-mel batches, in training mode only.

    Args:
        p: probability that a batch is re-styled, in [0, 1] (DSU's 0.5).
        factor: scale of the drawn deviations against the batch's own spread, > 0 (1: the batch's covariance).
        eps: added to the variance before the logarithm.
        generator: optional ``torch.Generator`` for reproducible draws (set per call by
            :meth:`lightops.audio.FrontEnd.augment`).

    Shape:
        ``(B, C, F, T) -> (B, C, F, T)``, same dtype.
    """

    def __init__(self, p: float = 0.5, factor: float = 1.0, eps: float = 1e-6,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.p = check_float(p, "FreqDSU: p", minimum=0.0, maximum=1.0)
        self.factor = check_float(factor, "FreqDSU: factor", minimum=0.0, open_min=True)
        self.eps = check_float(eps, "FreqDSU: eps", minimum=0.0, open_min=True)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Re-style the per-bin statistics of ``x`` ``(B, C, F, T)`` with probability ``p`` (training mode only)."""
        if not restyles_batch(self, x):
            return x
        b, f = x.shape[0], x.shape[2]
        mu = x.mean(dim=(1, 3), keepdim=True).detach()  # (B, 1, F, 1)
        log_sig = 0.5 * torch.log(x.var(dim=(1, 3), keepdim=True).detach() + self.eps)
        stats = torch.cat([mu.reshape(b, f), log_sig.reshape(b, f)], dim=1)  # (B, 2F)
        dev = stats - stats.mean(dim=0, keepdim=True)
        z = torch.randn((b, b), generator=self.generator, device=generator_device(self.generator))
        z = z.to(device=x.device, dtype=x.dtype)
        shift = (self.factor / math.sqrt(b - 1)) * (z @ dev)  # (B, 2F), covariance factor^2 * the batch's
        d_mu, d_log_sig = shift[:, :f].reshape(b, 1, f, 1), shift[:, f:].reshape(b, 1, f, 1)
        return (x - mu) * torch.exp(d_log_sig) + mu + d_mu

    def extra_repr(self) -> str:
        return f"p={self.p}, factor={self.factor}"
