"""Spectrogram augmentation: SpecAugment masking (a module, active in training only) and mixup (a function).

:class:`SpecAugment` masks bands of mel bins and runs of frames of a ``(B, C, F, T)`` log-mel input (Park et al.,
"SpecAugment", Interspeech 2019), independently per example. :func:`mixup` mixes a batch with a permutation of
itself (Zhang et al., "mixup", ICLR 2018) and returns soft targets, the format timm's ``Mixup`` returns and its
``SoftTargetCrossEntropy`` expects.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..validation import check_float, check_int

__all__ = ["SpecAugment", "mixup", "generator_device"]


def generator_device(generator: Optional[torch.Generator]) -> Union[str, torch.device]:
    """The device to draw from ``generator`` on: its own, or the CPU for torch's global generator (None)."""
    return "cpu" if generator is None else generator.device


def _check_width(value: int, name: str) -> int:
    return check_int(value, f"SpecAugment: {name}", minimum=0)


def _band_masks(num: int, max_width: int, size: int, batch: int, device: Union[str, torch.device],
                generator: Optional[torch.Generator]) -> torch.Tensor:
    """Union of ``num`` random bands per example along an axis of ``size``: bool ``(B, size)``.

    Each band has a width drawn uniformly from ``[0, min(max_width, size)]`` and a start drawn uniformly from
    ``[0, size - width]``, so a band never runs past the edge.
    """
    mask = torch.zeros(batch, size, dtype=torch.bool, device=device)
    if num == 0 or max_width == 0:
        return mask
    max_width = min(max_width, size)
    pos = torch.arange(size, device=device)  # (size,)
    u = torch.rand(2, batch, num, generator=generator, device=generator_device(generator))
    u = u.to(device)
    width = (u[0] * (max_width + 1)).floor().clamp_max(max_width)  # (B, num) in [0, max_width]
    start = (u[1] * (size - width + 1)).floor().clamp_max(size - width)  # (B, num) in [0, size - width]
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])  # (B, num, size)
    return mask | inside.any(dim=1)


class SpecAugment(nn.Module):
    """Frequency and time masking of a spectrogram, applied only in training mode (identity in eval).

    Args:
        freq_mask: largest width of one frequency mask, in mel bins (0 disables).
        time_mask: largest width of one time mask, in frames (0 disables).
        n_freq_masks: number of frequency masks per example.
        n_time_masks: number of time masks per example.
        mask_value: value written into masked cells (0 suits normalised log-mel input).
        generator: optional ``torch.Generator`` for reproducible masks.

    Shape:
        ``(B, C, F, T) -> (B, C, F, T)``; all channels of an example share its masks.
    """

    def __init__(self, freq_mask: int = 48, time_mask: int = 40, n_freq_masks: int = 1, n_time_masks: int = 1, *,
                 mask_value: float = 0.0, generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.freq_mask = _check_width(freq_mask, "freq_mask")
        self.time_mask = _check_width(time_mask, "time_mask")
        self.n_freq_masks = _check_width(n_freq_masks, "n_freq_masks")
        self.n_time_masks = _check_width(n_time_masks, "n_time_masks")
        self.mask_value = float(mask_value)
        self.generator = generator

    def sample_masks(self, shape: Tuple[int, ...], device: Union[str, torch.device] = "cpu"
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw the masks for an input of ``shape`` ``(B, C, F, T)``.

        Returns:
            ``(freq, time)``: bool tensors ``(B, 1, F, 1)`` and ``(B, 1, 1, T)``, True where masked.
        """
        b, _, f, t = shape
        freq = _band_masks(self.n_freq_masks, self.freq_mask, f, b, device, self.generator)  # (B, F)
        time = _band_masks(self.n_time_masks, self.time_mask, t, b, device, self.generator)  # (B, T)
        return freq[:, None, :, None], time[:, None, None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mask ``x`` ``(B, C, F, T)`` in training mode; return it unchanged in eval mode."""
        if x.dim() != 4:
            raise ValueError(f"SpecAugment: expected a 4-D input (B, C, F, T), got shape {list(x.shape)}")
        if not self.training:
            return x
        freq, time = self.sample_masks(tuple(x.shape), x.device)
        return x.masked_fill(freq | time, self.mask_value)  # (B, C, F, T)

    def extra_repr(self) -> str:
        return (f"freq_mask={self.freq_mask}, time_mask={self.time_mask}, n_freq_masks={self.n_freq_masks}, "
                f"n_time_masks={self.n_time_masks}, mask_value={self.mask_value}")


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float = 0.3, *, num_classes: Optional[int] = None,
          label_smoothing: float = 0.0, generator: Optional[torch.Generator] = None,
          extra: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
    """Mix a batch with a random permutation of itself; return mixed inputs and soft targets.

    ``lam ~ Beta(alpha, alpha)`` once per batch; ``x' = lam * x + (1 - lam) * x[perm]`` and
    ``y' = lam * y + (1 - lam) * y[perm]`` with ``y`` one-hot (optionally label-smoothed). The output pair is
    what ``timm.data.Mixup`` returns (train with ``timm.loss.SoftTargetCrossEntropy``). timm's ``Mixup`` does
    work on ``(B, 1, F, T)`` log-mel batches and may be used instead; this function exists because timm's draws
    ``lam`` from numpy's global generator (no per-call ``generator``), needs an even batch, pairs example ``i``
    with ``B - 1 - i`` and overwrites its input in place.

    Args:
        x: inputs, any shape ``(B, ...)``, floating point.
        y: class indices ``(B,)`` (int) or soft/one-hot targets ``(B, K)`` (float).
        alpha: Beta parameter; ``alpha <= 0`` disables mixing (``lam = 1``).
        num_classes: ``K``; required with index targets.
        label_smoothing: smoothing applied to index targets, as timm's ``mixup_target``.
        generator: optional ``torch.Generator`` for ``lam`` and the permutation.
        extra: optional further per-example targets ``(B, ...)`` (e.g. a teacher's probabilities), mixed with the
            same ``lam`` and pairs and returned third.

    Returns:
        ``(x_mixed, y_soft)``: ``x_mixed`` like ``x``, ``y_soft`` float ``(B, K)`` whose rows sum to 1; and
        ``extra_mixed`` third when ``extra`` is given.

    Shape:
        ``x (B, ...)``, ``y (B,)`` or ``(B, K)`` -> ``(B, ...)``, ``(B, K)``.
    """
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"mixup: expected a non-empty batch x (B, ...), got shape {list(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"mixup: expected floating-point inputs x, got dtype {x.dtype}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"mixup: x has batch {x.shape[0]} but y has {y.shape[0]}; expected y (B,) or (B, K)")
    check_float(label_smoothing, "mixup: label_smoothing", minimum=0.0, maximum=1.0, open_max=True)
    if y.dim() == 1 and not y.is_floating_point():
        if num_classes is None or num_classes < 1:
            raise ValueError(f"mixup: index targets y (B,) need num_classes >= 1, got {num_classes!r}")
        if y.min() < 0 or y.max() >= num_classes:
            raise ValueError(f"mixup: class indices must lie in [0, {num_classes}), got range "
                             f"[{int(y.min())}, {int(y.max())}]")
        off = label_smoothing / num_classes
        soft = torch.full((y.shape[0], num_classes), off, device=x.device, dtype=torch.float32)
        soft.scatter_(1, y.long().view(-1, 1).to(x.device), 1.0 - label_smoothing + off)  # (B, K)
    elif y.dim() == 2:
        soft = y.to(device=x.device, dtype=torch.float32)  # (B, K)
    else:
        raise ValueError(f"mixup: expected targets y as indices (B,) or soft targets (B, K), got shape "
                         f"{list(y.shape)} dtype {y.dtype}")
    gen_device = generator_device(generator)
    lam = 1.0
    if alpha > 0:
        # torch's Beta sampler takes no generator: seed numpy's from the (global or given) torch generator.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=gen_device))
        lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator, device=gen_device).to(x.device)
    x_mixed = lam * x + (1.0 - lam) * x[perm]  # (B, ...)
    y_soft = lam * soft + (1.0 - lam) * soft[perm]  # (B, K)
    if extra is None:
        return x_mixed, y_soft
    if extra.shape[0] != x.shape[0]:
        raise ValueError(f"mixup: extra has batch {extra.shape[0]} but x has {x.shape[0]}")
    extra = extra.to(x.device)
    return x_mixed, y_soft, lam * extra + (1.0 - lam) * extra[perm]
