"""The depthwise 3x1 (frequency) then 1x3 (time) pair shared by SC, OSC and SPC."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn

from ..validation import conv_out_len

__all__ = ["DepthwisePair"]


class DepthwisePair(nn.Module):
    """Depthwise ``k x 1`` convolution over frequency, then depthwise ``1 x k`` over time (k = 3).

    No nonlinearity sits between the two, so the pair equals one depthwise ``3 x 3`` convolution with the
    outer-product kernel ``K[a, b] = k_f[a] * k_t[b]`` (zero padding included); the bias, when asked for,
    sits on the second convolution only so that this identity stays exact.

    Args:
        chs: channels (input = output).
        stride: ``(s_f, s_t)``; the frequency conv takes ``s_f``, the time conv ``s_t``.
        dilation: ``(d_f, d_t)``; padding is ``d`` on each axis ('same').
        bias: add a per-channel bias to the time conv.

    Shape:
        ``(B, C, F, T) -> (B, C, F', T')`` with ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``2 * 3 * C`` (+ ``C`` with bias).
    MACs: ``3 * C * F' * T + 3 * C * F' * T'``.
    """

    kernel_size = 3

    def __init__(self, chs: int, stride: Tuple[int, int] = (1, 1), dilation: Tuple[int, int] = (1, 1),
                 bias: bool = False) -> None:
        super().__init__()
        k = self.kernel_size
        self.chs = chs
        self.stride = tuple(stride)
        self.conv_f = nn.Conv2d(chs, chs, (k, 1), stride=(stride[0], 1), padding=(dilation[0] * (k // 2), 0),
                                dilation=(dilation[0], 1), groups=chs, bias=False)
        self.conv_t = nn.Conv2d(chs, chs, (1, k), stride=(1, stride[1]), padding=(0, dilation[1] * (k // 2)),
                                dilation=(1, dilation[1]), groups=chs, bias=bias)

    def params(self) -> int:
        """``6 * C`` (+ ``C`` with bias)."""
        return 2 * self.kernel_size * self.chs + (self.chs if self.conv_t.bias is not None else 0)

    def macs(self, f: int, t: int) -> int:
        """MACs for an input of ``F x T`` bins at batch 1."""
        f1 = conv_out_len(f, self.stride[0])
        t1 = conv_out_len(t, self.stride[1])
        return self.kernel_size * self.chs * f1 * t + self.kernel_size * self.chs * f1 * t1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F', T')``."""
        return self.conv_t(self.conv_f(x))
