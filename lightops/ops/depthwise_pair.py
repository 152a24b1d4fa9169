"""The depthwise 3x1 (frequency) then 1x3 (time) pair shared by SC, OSC and SPC."""
from __future__ import annotations

from typing import Tuple, Union

import torch
import torch.nn as nn

from ..validation import conv_out_len
from .folding import build_like

__all__ = ["DepthwisePair", "DepthwiseConv3x3", "check_freq_kernel"]


def check_freq_kernel(freq_kernel: int) -> int:
    """``freq_kernel`` if it is an odd int >= 1 (a 'same'-padded frequency kernel), else a ``ValueError``."""
    if isinstance(freq_kernel, bool) or not isinstance(freq_kernel, int) or freq_kernel < 1 or freq_kernel % 2 == 0:
        raise ValueError(f"freq_kernel must be an odd int >= 1 (1: no frequency filtering), got {freq_kernel!r}")
    return freq_kernel


class DepthwiseConv3x3(nn.Conv2d):
    """One depthwise ``kf x kt`` convolution equal to a :class:`DepthwisePair` (``3 x 3``, or ``kf x 3`` with the
    pair's ``freq_kernel``): the pair's inference form.

    Args:
        kernel_size: ``k`` (square) or ``(kf, kt)``, odd; the padding keeps the size ('same').

    Shape:
        ``(B, C, F, T) -> (B, C, F', T')`` as the pair.

    Params: ``kf * kt * C`` (+ ``C`` bias). MACs: ``kf * kt * C * F' * T'``.
    """

    def __init__(self, chs: int, stride: Tuple[int, int] = (1, 1), dilation: Tuple[int, int] = (1, 1),
                 bias: bool = False, kernel_size: Union[int, Tuple[int, int]] = 3) -> None:
        kf, kt = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(chs, chs, (kf, kt), stride=tuple(stride), dilation=tuple(dilation), groups=chs,
                         padding=(dilation[0] * (kf // 2), dilation[1] * (kt // 2)), bias=bias)
        self.chs = chs

    def params(self) -> int:
        """``kf * kt * C`` (+ ``C`` with bias)."""
        return self.weight.numel() + (self.chs if self.bias is not None else 0)

    def macs(self, f: int, t: int) -> int:
        """``kf * kt * C * F' * T'`` for an input of ``F x T`` bins at batch 1 (same signature as the pair's)."""
        kf, kt = self.kernel_size
        return kf * kt * self.chs * conv_out_len(f, self.stride[0]) * conv_out_len(t, self.stride[1])


class DepthwisePair(nn.Module):
    """Depthwise ``kf x 1`` convolution over frequency, then depthwise ``1 x k`` over time (``kf = k = 3``).

    No nonlinearity sits between the two, so the pair equals one depthwise ``kf x 3`` convolution with the
    outer-product kernel ``K[a, b] = k_f[a] * k_t[b]`` (zero padding included); the bias, when asked for,
    sits on the second convolution only so that this identity stays exact.

    Args:
        chs: channels (input = output).
        stride: ``(s_f, s_t)``; the frequency conv takes ``s_f``, the time conv ``s_t``.
        dilation: ``(d_f, d_t)``; padding is ``d * (kernel // 2)`` on each axis ('same').
        bias: add a per-channel bias to the time conv.
        freq_kernel: ``kf``, the frequency kernel, odd (default 3). ``1`` keeps the pair from widening the
            frequency receptive field: each bin is filtered over time only, scaled per channel (how CP-ResNet-style
            receptive-field regularisation restricts later layers).

    Shape:
        ``(B, C, F, T) -> (B, C, F', T')`` with ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``(kf + 3) * C`` (+ ``C`` with bias).
    MACs: ``kf * C * F' * T + 3 * C * F' * T'``.
    """

    kernel_size = 3  # the time kernel

    def __init__(self, chs: int, stride: Tuple[int, int] = (1, 1), dilation: Tuple[int, int] = (1, 1),
                 bias: bool = False, freq_kernel: int = 3) -> None:
        super().__init__()
        k = self.kernel_size
        self.freq_kernel = kf = check_freq_kernel(freq_kernel)
        self.chs = chs
        self.stride = tuple(stride)
        self.conv_f = nn.Conv2d(chs, chs, (kf, 1), stride=(stride[0], 1), padding=(dilation[0] * (kf // 2), 0),
                                dilation=(dilation[0], 1), groups=chs, bias=False)
        self.conv_t = nn.Conv2d(chs, chs, (1, k), stride=(1, stride[1]), padding=(0, dilation[1] * (k // 2)),
                                dilation=(1, dilation[1]), groups=chs, bias=bias)

    def params(self) -> int:
        """``(kf + 3) * C`` (+ ``C`` with bias)."""
        return (self.freq_kernel + self.kernel_size) * self.chs + (self.chs if self.conv_t.bias is not None else 0)

    def macs(self, f: int, t: int) -> int:
        """MACs for an input of ``F x T`` bins at batch 1."""
        f1 = conv_out_len(f, self.stride[0])
        t1 = conv_out_len(t, self.stride[1])
        return self.freq_kernel * self.chs * f1 * t + self.kernel_size * self.chs * f1 * t1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F', T')``."""
        return self.conv_t(self.conv_f(x))

    def inference_form(self) -> DepthwiseConv3x3:
        """The single depthwise ``kf x 3`` convolution equal to the pair: kernel ``K[c, a, b] = k_f[c, a] * k_t[c, b]``.

        Exact for any stride and dilation: padding the time axis of the frequency conv's output with zeros is the
        same as padding the input, because that conv has no bias. The pair's bias (on its time conv) carries over.
        """
        conv_f, conv_t = self.conv_f, self.conv_t
        ref = conv_t.weight
        dw = build_like(lambda: DepthwiseConv3x3(self.chs, (conv_f.stride[0], conv_t.stride[1]),
                                                 (conv_f.dilation[0], conv_t.dilation[1]),
                                                 bias=conv_t.bias is not None,
                                                 kernel_size=(self.freq_kernel, self.kernel_size)), ref)
        with torch.no_grad():
            kernel = conv_f.weight.detach().double() * conv_t.weight.detach().double()  # (C,1,k,1) * (C,1,1,k)
            dw.weight.copy_(kernel.to(ref.dtype))
            if conv_t.bias is not None:
                dw.bias.copy_(conv_t.bias.detach())
        return dw.train(self.training)
