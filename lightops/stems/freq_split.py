"""Frequency-split stems: decide, before the first convolution, what the high mel bins cost.

Low frequencies carry most of an acoustic scene's energy and structure, so a stem either drops the upper
band (:class:`CutStem`) or processes it at a fraction of the low band's cost (:class:`HighLowStem`).
:class:`ConvStem` is the plain full-band reference.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn as nn
from timm.layers import create_act_layer, get_act_layer, get_norm_layer

from .. import validation
from ..ops import bands
from ..ops.base import LayerType, count_params
from ..ops.padding import pad_out, zero_at_zero
from ..validation import check_channels, check_input_size, check_ratio

__all__ = ["ConvStem", "CutStem", "HighLowStem", "create_stem", "STEM_TYPES"]


def _down(n: int, stride: int) -> int:
    return (n - 1) // stride + 1


class _StemBase(nn.Module):
    """Shared arguments, validation and the ``3x3, stride s`` conv + norm + act unit."""

    __jit_ignored_attributes__ = ["norm_layer", "act_layer"]  # layer classes, only used while building

    def __init__(self, in_chs: int, out_chs: int, stride: int, norm_layer: LayerType, act_layer: LayerType) -> None:
        super().__init__()
        self.in_chs = check_channels(in_chs, "in_chs")
        self.out_chs = check_channels(out_chs, "out_chs")
        self.stride = check_channels(stride, "stride")
        self.norm_layer = get_norm_layer(norm_layer)
        self.act_layer = get_act_layer(act_layer)

    def _conv_unit(self, kernel: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(self.in_chs, self.out_chs, kernel, stride=self.stride, padding=kernel // 2, bias=False),
            self.norm_layer(self.out_chs), create_act_layer(self.act_layer, inplace=True))

    def params(self) -> int:
        """Trainable parameters."""
        return count_params(self)

    def first_weight(self) -> torch.Tensor:
        """The weight of the first convolution the input meets: the dtype the stem expects its input in."""
        raise NotImplementedError

    def _size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        return check_input_size(input_size, type(self).__name__, self.in_chs)

    def _output_convs(self) -> List[Tuple[nn.Sequential, int]]:
        """``(sequential, index)`` of each convolution writing the output, when only activations with act(0) = 0
        follow it (empty otherwise)."""
        found = []
        for seq in (m for m in self.children() if isinstance(m, nn.Sequential)):
            layers = list(seq)
            convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
            if not convs or layers[convs[-1]].groups != 1 or not all(zero_at_zero(m) for m in layers[convs[-1] + 1:]):
                return []
            found.append((seq, convs[-1]))
        return found

    def can_pad_output(self) -> bool:
        """Whether the output can carry always-zero extra channels (inference form: norms folded)."""
        return bool(self._output_convs())

    def pad_output(self, width: int) -> None:
        """Write ``width`` output channels, the ones past ``out_chs`` always 0 (:meth:`can_pad_output` first)."""
        for seq, i in self._output_convs():
            seq[i] = pad_out(seq[i], width)


class ConvStem(_StemBase):
    """Full-band stem: 3x3 convolution with stride ``s``, norm, activation.

    Shape: ``(B, Cin, F, T) -> (B, C, F', T')``, ``F' = (F - 1) // s + 1``, ``T' = (T - 1) // s + 1``.
    Params: ``9 Cin C`` + norm. MACs: ``9 Cin C F' T'``.
    """

    def __init__(self, in_chs: int, out_chs: int, *, stride: int = 2, norm_layer: LayerType = "batchnorm2d",
                 act_layer: LayerType = "relu") -> None:
        super().__init__(in_chs, out_chs, stride, norm_layer, act_layer)
        self.conv = self._conv_unit(3)

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, F', T')``."""
        _, f, t = self._size(input_size)
        return self.out_chs, _down(f, self.stride), _down(t, self.stride)

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``9 Cin C F' T'``."""
        _, f, t = self.output_size(input_size)
        return 9 * self.in_chs * self.out_chs * f * t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, F', T')``."""
        validation.check_input(x, self.in_chs, "ConvStem")
        validation.check_dtype(x, self.first_weight(), "ConvStem")
        return self.conv(x)

    def first_weight(self) -> torch.Tensor:
        """The 3x3 convolution's weight."""
        return self.conv[0].weight


class CutStem(ConvStem):
    """Cut stem: keep the lowest ``Fk = ceil(keep * F)`` mel bins, then the 3x3 stride-``s`` convolution.

    ::

        x (Cin, F, T) --keep bins [0, Fk)--> (Cin, Fk, T) --3x3, s--> (C, Fk', T')

    Shape: ``(B, Cin, F, T) -> (B, C, (Fk - 1) // s + 1, (T - 1) // s + 1)``.
    Params: ``9 Cin C`` + norm. MACs: ``9 Cin C Fk' T'``.
    """

    def __init__(self, in_chs: int, out_chs: int, *, keep: float = 0.5, stride: int = 2,
                 norm_layer: LayerType = "batchnorm2d", act_layer: LayerType = "relu") -> None:
        super().__init__(in_chs, out_chs, stride=stride, norm_layer=norm_layer, act_layer=act_layer)
        self.keep = check_ratio(keep, "keep")

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, Fk', T')``."""
        c, f, t = self._size(input_size)
        return super().output_size((c, bands.kept_bins(f, self.keep), t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, Fk', T')``."""
        validation.check_input(x, self.in_chs, "CutStem")
        validation.check_dtype(x, self.first_weight(), "CutStem")
        return self.conv(bands.keep_low(x, self.keep))  # (B, Cin, Fk, T) -> (B, C, Fk', T')


class HighLowStem(_StemBase):
    """High/low stem: a 3x3 convolution on the low band, a pooled 1x1 on the high band, stacked on frequency.

    ::

        x (Cin, F, T) --split--> low (Cin, Fl, T) --3x3, s-------------> (C, Fl', T') --+
                                 high (Cin, Fh, T) --avg s x s--1x1------> (C, Fh', T') --cat F--> (C, Fl' + Fh', T')

    The high band costs ``1/9`` of the low band per output bin; low frequencies stay first.

    Shape: ``(B, Cin, F, T) -> (B, C, ceil(Fl / s) + ceil(Fh / s), ceil(T / s))`` with ``Fl = ceil(low_ratio F)``.
    Params: ``9 Cin C + Cin C`` + norms. MACs: ``9 Cin C Fl' T' + Cin C Fh' T'``.
    """

    def __init__(self, in_chs: int, out_chs: int, *, low_ratio: float = 0.5, stride: int = 2,
                 norm_layer: LayerType = "batchnorm2d", act_layer: LayerType = "relu") -> None:
        super().__init__(in_chs, out_chs, stride, norm_layer, act_layer)
        self.low_ratio = check_ratio(low_ratio, "low_ratio")
        if self.low_ratio >= 1.0:
            raise ValueError(f"low_ratio must be in (0, 1) so that a high band remains, got {low_ratio}")
        self.low = self._conv_unit(3)
        self.high = nn.Sequential(nn.AvgPool2d(self.stride, ceil_mode=True),
                                  nn.Conv2d(self.in_chs, self.out_chs, 1, bias=False),
                                  self.norm_layer(self.out_chs), create_act_layer(self.act_layer, inplace=True))

    def _bands(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        _, f, t = self._size(input_size)
        if f < 2:
            raise ValueError(f"HighLowStem: needs F >= 2 bins to split, got input (C, F, T) = {tuple(input_size)}")
        fl = bands.low_band_bins(f, self.low_ratio)
        return _down(fl, self.stride), _down(f - fl, self.stride), _down(t, self.stride)

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, Fl' + Fh', T')``."""
        fl, fh, t = self._bands(input_size)
        return self.out_chs, fl + fh, t

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``9 Cin C Fl' T' + Cin C Fh' T'``."""
        fl, fh, t = self._bands(input_size)
        return 9 * self.in_chs * self.out_chs * fl * t + self.in_chs * self.out_chs * fh * t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, Fl' + Fh', T')``."""
        validation.check_input(x, self.in_chs, "HighLowStem")
        validation.check_dtype(x, self.first_weight(), "HighLowStem")
        low, high = bands.split_bands(x, self.low_ratio)
        return torch.cat([self.low(low), self.high(high)], dim=2)

    def first_weight(self) -> torch.Tensor:
        """The low band's 3x3 convolution's weight."""
        return self.low[0].weight


STEM_TYPES = {"conv": ConvStem, "cut": CutStem, "highlow": HighLowStem}


def create_stem(kind: str, in_chs: int, out_chs: int, **kwargs) -> nn.Module:
    """Stem by name: ``"conv"``, ``"cut"`` (option ``keep``) or ``"highlow"`` (option ``low_ratio``)."""
    if kind not in STEM_TYPES:
        raise ValueError(f"stem must be one of {sorted(STEM_TYPES)}, got {kind!r}")
    return STEM_TYPES[kind](in_chs, out_chs, **kwargs)
