"""Separable Convolution (SC), the basic Deep Space Separable Operator."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..validation import IntOrPair, check_input_size
from ._registry import register_op
from .base import LayerType, SeparableOpBase
from .depthwise_pair import DepthwisePair

__all__ = ["SeparableConv2d", "SC"]


@register_op("sc")
class SeparableConv2d(SeparableOpBase):
    """Separable Convolution: pointwise 1x1, then depthwise 3x1 (frequency), then depthwise 1x3 (time).

    ::

        x (Cin, F, T) --1x1--> (Cout, F, T) --dw 3x1, s_f--> (Cout, F', T) --dw 1x3, s_t--> (Cout, F', T')

    Descends from BSConv-U (Haase & Amthor, CVPR 2020), with the 3x3 depthwise kernel split into a
    frequency and a time kernel (Ye & Tian, arXiv 2405.03567).

    Args:
        in_chs: input channels ``Cin``.
        out_chs: output channels ``Cout``.
        stride: ``(s_f, s_t)`` or one int; applied by the depthwise convolutions.
        dilation: ``(d_f, d_t)`` or one int, of the depthwise kernels.
        bias: add a bias to the last (time) depthwise convolution.
        norm_layer: optional norm after the operator (none by default).
        act_layer: optional activation after the norm (none by default).
        freq_kernel: ``kf``, the depthwise frequency kernel, odd (default 3; 1 filters over time only and keeps
            the operator from widening the frequency receptive field).

    Shape:
        ``(B, Cin, F, T) -> (B, Cout, F', T')``, ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``Cin * Cout + (kf + 3) * Cout`` (+ ``Cout`` with bias, + the norm's).
    MACs: ``Cin * Cout * F * T + kf * Cout * F' * T + 3 * Cout * F' * T'`` (``kf = 3`` by default).
    """

    def __init__(self, in_chs: int, out_chs: int, *, stride: IntOrPair = 1, dilation: IntOrPair = 1,
                 bias: bool = False, norm_layer: LayerType = None, act_layer: LayerType = None,
                 freq_kernel: int = 3) -> None:
        super().__init__(in_chs, out_chs, stride=stride, dilation=dilation, norm_layer=norm_layer,
                         act_layer=act_layer)
        self.pw = nn.Conv2d(self.in_chs, self.out_chs, 1, bias=False)
        self.dw = DepthwisePair(self.out_chs, self.stride, self.dilation, bias=bias, freq_kernel=freq_kernel)

    def _conv_params(self) -> int:
        return self.in_chs * self.out_chs + self.dw.params()

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``Cin * Cout * F * T + kf * Cout * F' * T + 3 * Cout * F' * T'``."""
        _, f, t = check_input_size(input_size, type(self).__name__, self.in_chs)
        return self.in_chs * self.out_chs * f * t + self.dw.macs(f, t)

    def dtype_weight(self) -> Optional[torch.Tensor]:
        """``pw.weight``."""
        return self.pw.weight

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))

    def inference_form(self) -> nn.Module:
        """``ConvChain(1x1, depthwise kxk[, act])`` once the norm is folded and the pair merged; else ``self``."""
        return self._chain_of(self.pw, self.dw)


SC = SeparableConv2d
