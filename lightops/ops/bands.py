"""Splitting the frequency axis into a low and a high band, the move every DSSDB and split stem makes.

Both functions are registered with ``torch.fx.wrap`` (reach them as ``bands.split_bands``) so that
symbolic tracing records them as single calls instead of tracing the shape arithmetic inside.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ["JOINS", "SPLITS", "low_band_bins", "kept_bins", "split_bands", "split_haar", "keep_low", "match_bins",
           "join_bands", "join_haar"]

JOINS = ("add", "stack")
"""How a DSSDB's high band joins its low band (:func:`join_bands`)."""

SPLITS = ("band", "haar")
"""How a DSSDB splits its frequency axis: contiguous bands (:func:`split_bands`) or a Haar step (:func:`split_haar`)."""


def low_band_bins(num_bins: int, low_ratio: float) -> int:
    """Bins in the low band: ``ceil(low_ratio * num_bins)``, at least 1 and at most ``num_bins - 1``."""
    return min(max(1, math.ceil(low_ratio * num_bins)), max(1, num_bins - 1))


def kept_bins(num_bins: int, keep: float) -> int:
    """Bins kept by a cut: ``ceil(keep * num_bins)``, at least 1."""
    return max(1, math.ceil(keep * num_bins))


@torch.fx.wrap
def keep_low(x: torch.Tensor, keep: float) -> torch.Tensor:
    """The lowest ``kept_bins(F, keep)`` frequency bins of ``(B, C, F, T)``."""
    return x[:, :, : kept_bins(x.shape[2], keep)]


@torch.fx.wrap
def split_bands(x: torch.Tensor, low_ratio: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Split ``(B, C, F, T)`` into the low band ``(B, C, Fl, T)`` and the high band ``(B, C, F - Fl, T)``.

    Frequency runs low to high along dim 2, so the low band is the first ``Fl = low_band_bins(F, ratio)`` bins.
    """
    f_low = low_band_bins(x.shape[2], low_ratio)
    return x[:, :, :f_low], x[:, :, f_low:]


@torch.fx.wrap
def split_haar(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One Haar step along frequency: ``(B, C, F, T)`` -> low ``(B, C, ceil(F / 2), T)``, high ``(B, C, F // 2, T)``.

    Low bin ``i`` is the mean of input bins ``2i`` and ``2i + 1`` (the whole spectrum at half the resolution), high
    bin ``i`` half their difference ``(x[2i] - x[2i + 1]) / 2`` (the detail the mean drops); an odd top bin goes to the
    low band alone. ``low + high`` and ``low - high`` give the two input bins back. Written with a reshape and
    contiguous slices (no strided slice), which every runtime's delegate takes.
    """
    c, f, t = x.shape[1], x.shape[2], x.shape[3]
    even = f - f % 2
    pairs = (x[:, :, :even] if f % 2 == 1 else x).reshape(-1, c, even // 2, 2 * t)  # row i: bins 2i, 2i + 1
    first, second = pairs[:, :, :, :t], pairs[:, :, :, t:]  # (B, C, F // 2, T) each
    low, high = (first + second) * 0.5, (first - second) * 0.5
    if f % 2 == 1:
        low = torch.cat([low, x[:, :, even:]], dim=2)
    return low, high


@torch.fx.wrap
def join_haar(low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Add a Haar split's high-band output ``(B, C, Fh, T)`` to its low-band output ``(B, C, Fl, T)`` bin by bin, both
    covering the same input bins (``Fh = Fl - 1`` for an odd input: its top bin has no detail)."""
    if high.shape[2] == low.shape[2]:
        return low + high
    return low + F.pad(high, (0, 0, 0, low.shape[2] - high.shape[2]))


@torch.fx.wrap
def match_bins(x: torch.Tensor, num_bins: int) -> torch.Tensor:
    """Average-pool (or repeat) the frequency axis of ``(B, C, F, T)`` to ``num_bins``; identity if equal."""
    if x.shape[2] == num_bins:
        return x
    return F.adaptive_avg_pool2d(x, [num_bins, x.shape[3]])


@torch.fx.wrap
def join_bands(low: torch.Tensor, high: torch.Tensor, how: str) -> torch.Tensor:
    """Join a block's low-band output ``(B, C, Fl, T)`` and high-band output ``(B, C, Fh, T)`` into ``Fl`` bins.

    - ``"add"``: the high band pooled (or repeated) to ``Fl`` bins and added bin by bin, so output bin ``i`` holds
      low bin ``i`` and high bin ``i`` (``Fl + i`` of the input at ``low_ratio = 1/2``): the two bands folded together;
    - ``"stack"``: both bands concatenated in frequency order and average-pooled to ``Fl`` bins (pairs of neighbouring
      bins at ``low_ratio = 1/2``), as the high/low stem stacks them, so every output bin covers one frequency region.
    """
    num_bins = low.shape[2]
    if how == "add":
        return low + match_bins(high, num_bins)
    if how != "stack":
        raise ValueError("join_bands: how must be one of ('add', 'stack'), got " + how)  # TorchScript: no f-string
    full = torch.cat([low, high], dim=2)  # (B, C, Fl + Fh, T), low to high
    f = full.shape[2]
    if f // 2 == num_bins and f % 2 == 0:  # low_ratio 1/2: neighbouring pairs
        return F.avg_pool2d(full, (2, 1))
    if f % 2 == 1 and f // 2 + 1 == num_bins:  # odd: the pairs and the top bin alone (XNNPACK has no ceil mode)
        return torch.cat([F.avg_pool2d(full[:, :, : f - 1], (2, 1)), full[:, :, f - 1:]], dim=2)
    return match_bins(full, num_bins)
