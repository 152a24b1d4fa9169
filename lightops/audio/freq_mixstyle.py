"""Freq-MixStyle: mix the per-frequency statistics of log-mel examples, so a model cannot rely on a recording
device's frequency response (Schmid et al., "Efficient Large-Scale Audio Tagging via Transformer-to-CNN Knowledge
Distillation" / CP-JKU's DCASE 2022-2023 Task 1 systems; MixStyle: Zhou et al., ICLR 2021).

For each example, mean ``mu`` and standard deviation ``sig`` of every frequency bin are taken over channels and
time; the example is normalised with them and re-styled with a Beta(alpha, alpha) mix of its own and another
example's statistics::

    x (B, C, F, T): mu, sig = mean, std over (C, T)           (B, 1, F, 1) each, no gradient through them
    lam ~ Beta(alpha, alpha) per example; perm a random permutation of the batch
    out = (x - mu) / sig * (lam sig + (1 - lam) sig[perm]) + (lam mu + (1 - lam) mu[perm])

With probability ``p`` the whole batch is mixed (as in the reference implementation), else it passes unchanged;
the module is the identity in eval mode.
"""
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from ..validation import check_float
from .augment import generator_device

__all__ = ["FreqMixStyle", "restyles_batch"]


def restyles_batch(step: nn.Module, x: torch.Tensor) -> bool:
    """Whether a batch-wise re-styling step (:class:`FreqMixStyle`, :class:`~lightops.audio.FreqDSU`: attributes
    ``p`` and ``generator``) acts on ``x`` ``(B, C, F, T)`` now: never in eval mode, at ``p`` 0 or for fewer than two
    examples, else with probability ``p`` (one draw from the step's generator).

    Raises:
        ValueError: ``x`` is not 4-D (named with the step's class).
    """
    if x.dim() != 4:
        raise ValueError(f"{type(step).__name__}: expected a 4-D log-mel batch (B, C, F, T), got shape "
                         f"{list(x.shape)}")
    if not step.training or step.p == 0.0 or x.shape[0] < 2:
        return False
    return float(torch.rand((), generator=step.generator, device=generator_device(step.generator))) < step.p


class FreqMixStyle(nn.Module):
    """Freq-MixStyle on log-mel batches, in training mode only.

    Args:
        p: probability that a batch is mixed, in [0, 1] (0.4 in CP-JKU's DCASE recipe).
        alpha: Beta(alpha, alpha) parameter of the mixing weights, > 0 (0.3).
        eps: added to the variance before the square root.
        generator: optional ``torch.Generator`` for reproducible draws (set per call by
            :meth:`lightops.audio.FrontEnd.augment`).

    Shape:
        ``(B, C, F, T) -> (B, C, F, T)``, same dtype.
    """

    def __init__(self, p: float = 0.4, alpha: float = 0.3, eps: float = 1e-6,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.p = check_float(p, "FreqMixStyle: p", minimum=0.0, maximum=1.0)
        self.alpha = check_float(alpha, "FreqMixStyle: alpha", minimum=0.0, open_min=True)
        self.eps = check_float(eps, "FreqMixStyle: eps", minimum=0.0, open_min=True)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix the per-bin statistics of ``x`` ``(B, C, F, T)`` with probability ``p`` (training mode only)."""
        if not restyles_batch(self, x):
            return x
        gen_device = generator_device(self.generator)
        b = x.shape[0]
        # torch's Beta sampler takes no generator: seed numpy's from the (global or given) torch generator
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator, device=gen_device))
        lam = torch.from_numpy(np.random.default_rng(seed).beta(self.alpha, self.alpha, size=b))
        lam = lam.to(device=x.device, dtype=x.dtype).view(b, 1, 1, 1)
        perm = torch.randperm(b, generator=self.generator, device=gen_device).to(x.device)
        mu = x.mean(dim=(1, 3), keepdim=True).detach()  # (B, 1, F, 1)
        sig = (x.var(dim=(1, 3), keepdim=True) + self.eps).sqrt().detach()  # (B, 1, F, 1)
        x_norm = (x - mu) / sig
        mu_mix = lam * mu + (1 - lam) * mu[perm]
        sig_mix = lam * sig + (1 - lam) * sig[perm]
        return x_norm * sig_mix + mu_mix

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha}"
