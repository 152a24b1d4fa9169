"""FilterAugment: a random frequency response per example, the way a recording chain colours a spectrum (Nam et al.,
"FilterAugment: An Acoustic Environmental Data Augmentation Method", ICASSP 2022; in the DCASE Task 4 baselines
since 2022).

A device's microphone and its processing change a log-mel spectrogram, to first order, by a gain per frequency that
does not change over the clip. FilterAugment draws such a gain curve for each example and adds it::

    x (B, C, F, T), in units of u per dB (u = 1 / std for a log-mel normalised by its std in dB)
    n ~ U{n_bands}: bands of the batch; per example n - 1 boundaries at least min_bandwidth bins apart
    "linear": a gain in [lo, hi] dB at 0, at every boundary and at F - 1, linear between them (n + 1 knots)
    "step":   a gain in [lo, hi] dB per band, constant inside it
    out = x + u * gain_dB(f)      (a product of amplitudes, as the reference applies it, is a sum in dB)

The number of bands is drawn per batch (as the reference does), boundaries and gains per example; ``p`` is the
probability that an example is filtered. The filters are not built from any device of the synthetic families:
they are random piecewise-linear or piecewise-constant curves of the published ranges.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..validation import check_float, check_int
from .augment import generator_device

__all__ = ["FilterAugment", "filter_gains_db"]

_KINDS = ("linear", "step")


def _pair(value: Sequence[float], name: str, *, integer: bool = False) -> Tuple[float, float]:
    """Check a ``(low, high)`` pair with ``low <= high`` (integers where ``integer``)."""
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"FilterAugment: {name} must be a pair (low, high), got {value!r}") from None
    check = check_int if integer else check_float
    lo, hi = check(lo, f"FilterAugment: {name}[0]"), check(hi, f"FilterAugment: {name}[1]")
    if lo > hi:
        raise ValueError(f"FilterAugment: {name} must have low <= high, got {value!r}")
    return lo, hi


def _check_kind(kind: str, who: str) -> str:
    """``kind`` if it is one of :data:`_KINDS`, else ``ValueError`` naming ``who``."""
    if kind not in _KINDS:
        raise ValueError(f"{who}: kind must be one of {_KINDS}, got {kind!r}")
    return kind


def filter_gains_db(batch: int, bins: int, n_bands: int, *, db_range: Tuple[float, float] = (-6.0, 6.0),
                    min_bandwidth: int = 6, kind: str = "linear", generator: Optional[torch.Generator] = None
                    ) -> torch.Tensor:
    """Random gain curves in dB, ``(batch, bins)``: ``n_bands`` bands per example, as :class:`FilterAugment` draws them.

    Boundaries are drawn uniformly with every band at least ``min_bandwidth`` bins wide (narrowed when ``n_bands``
    bands of that width do not fit); gains uniformly in ``db_range``.
    """
    check_int(batch, "filter_gains_db: batch", minimum=0)
    check_int(bins, "filter_gains_db: bins", minimum=1)
    check_int(n_bands, "filter_gains_db: n_bands", minimum=1)
    _check_kind(kind, "filter_gains_db")
    gen_device = generator_device(generator)
    lo, hi = db_range
    n_bands = min(n_bands, bins)
    width = max(1, min(min_bandwidth, bins // n_bands))
    # n - 1 inner boundaries: sorted draws in [0, bins - n * width], shifted so that bands keep `width` bins each
    slack = bins - n_bands * width
    inner = torch.randint(0, slack + 1, (batch, n_bands - 1), generator=generator, device=gen_device)
    inner = inner.sort(dim=1).values + torch.arange(1, n_bands, device=gen_device) * width
    edges = torch.cat([torch.zeros(batch, 1, dtype=inner.dtype, device=gen_device), inner,
                       torch.full((batch, 1), bins, dtype=inner.dtype, device=gen_device)], dim=1)  # (B, n + 1)
    pos = torch.arange(bins, device=gen_device)
    band = (pos[None, :, None] >= edges[:, None, 1:-1]).sum(-1)  # (B, F): the band of each bin (0 for one band)
    if kind == "step":
        gains = torch.rand(batch, n_bands, generator=generator, device=gen_device) * (hi - lo) + lo
        return gains.gather(1, band)
    # linear: knots at 0, every inner boundary and bins - 1, gains interpolated between neighbouring knots
    knots = torch.rand(batch, n_bands + 1, generator=generator, device=gen_device) * (hi - lo) + lo
    at = edges.to(torch.float32)  # a copy (another dtype)
    at[:, -1] = bins - 1
    left, right = at.gather(1, band), at.gather(1, band + 1)
    t = ((pos[None] - left) / (right - left).clamp_min(1.0)).clamp(0.0, 1.0)
    return knots.gather(1, band) * (1 - t) + knots.gather(1, band + 1) * t


class FilterAugment(nn.Module):
    """A random frequency response added to each example of a log-mel batch, in training mode only.

    Args:
        p: probability that an example is filtered, in [0, 1].
        db_range: ``(low, high)`` gains in dB (the reference's ``(-6, 6)``).
        n_bands: ``(low, high)``, the number of bands drawn per batch from ``low..high - 1`` (the reference's
            ``(3, 6)`` for linear filters, ``(2, 5)`` for step filters).
        min_bandwidth: narrowest band in bins (the reference's 6 linear, 4 step).
        kind: ``"linear"`` (piecewise-linear gain in dB) or ``"step"`` (piecewise-constant).
        db_scale: input units per dB: ``1 / std`` for a log-mel normalised by its standard deviation in dB
            (:class:`~lightops.audio.FrontEnd`'s ``std``), 1 for a log-mel in dB.
        generator: optional ``torch.Generator`` for reproducible draws (set per call by
            :meth:`lightops.audio.FrontEnd.augment`).

    Shape:
        ``(B, C, F, T) -> (B, C, F, T)``, same dtype; all channels and frames of an example share its gain curve.
    """

    def __init__(self, p: float = 1.0, db_range: Sequence[float] = (-6.0, 6.0), n_bands: Sequence[int] = (3, 6),
                 min_bandwidth: int = 6, kind: str = "linear", db_scale: float = 1.0,
                 generator: Optional[torch.Generator] = None) -> None:
        super().__init__()
        self.p = check_float(p, "FilterAugment: p", minimum=0.0, maximum=1.0)
        self.db_range = _pair(db_range, "db_range")
        self.n_bands = _pair(n_bands, "n_bands", integer=True)
        if self.n_bands[0] < 1:
            raise ValueError(f"FilterAugment: n_bands must be at least 1, got {tuple(n_bands)!r}")
        self.min_bandwidth = check_int(min_bandwidth, "FilterAugment: min_bandwidth", minimum=1)
        self.kind = _check_kind(kind, "FilterAugment")
        self.db_scale = check_float(db_scale, "FilterAugment: db_scale", minimum=0.0, open_min=True)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add a random gain curve to each example of ``x`` ``(B, C, F, T)`` with probability ``p`` (training)."""
        if x.dim() != 4:
            raise ValueError(f"FilterAugment: expected a 4-D log-mel batch (B, C, F, T), got shape {list(x.shape)}")
        if not self.training or self.p == 0.0 or x.shape[0] == 0:
            return x
        gen_device = generator_device(self.generator)
        lo, hi = self.n_bands
        n = int(torch.randint(lo, max(hi, lo + 1), (), generator=self.generator, device=gen_device))
        b, f = x.shape[0], x.shape[2]
        gains = filter_gains_db(b, f, n, db_range=self.db_range, min_bandwidth=self.min_bandwidth, kind=self.kind,
                                generator=self.generator)
        keep = torch.rand(b, generator=self.generator, device=gen_device) < self.p
        gains = gains * keep[:, None]
        return x + (gains * self.db_scale).to(device=x.device, dtype=x.dtype)[:, None, :, None]

    def extra_repr(self) -> str:
        return (f"p={self.p}, db_range={self.db_range}, n_bands={self.n_bands}, min_bandwidth={self.min_bandwidth}, "
                f"kind={self.kind!r}, db_scale={self.db_scale:g}")
