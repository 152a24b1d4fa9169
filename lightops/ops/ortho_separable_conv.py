"""Orthonormal Separable Convolution (OSC): SC with a low-rank pointwise whose first factor is orthonormal."""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import orthogonal

from ..validation import IntOrPair, check_channels, check_input_size, check_ratio
from ._registry import register_op
from .base import LayerType, SeparableOpBase
from .depthwise_pair import DepthwisePair
from .folding import build_like
from .separable_conv import SeparableConv2d

__all__ = ["OrthoSeparableConv2d", "OSC", "OrthoPointwise", "ortho_reg_loss"]

ORTHOGONAL_MODES = ("soft", "exact")


class OrthoPointwise(nn.Module):
    """1x1 convolution ``Cin -> m`` whose weight is an ``(m, Cin)`` matrix kept with orthonormal rows.

    ``torch.nn.utils.parametrizations.orthogonal`` works on the last two dimensions of a tensor, so it
    cannot be put on a Conv2d weight of shape ``(m, Cin, 1, 1)``; this module keeps the weight 2-D and
    applies it with ``F.conv2d``.

    Params: ``m * Cin``. MACs: ``m * Cin * F * T``.
    """

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_chs, in_chs))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        orthogonal(self, "weight")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, m, F, T)``."""
        return F.conv2d(x, self.weight[:, :, None, None])

    def inference_form(self) -> nn.Conv2d:
        """A plain 1x1 ``nn.Conv2d`` with the (orthonormal) weight evaluated once."""
        w = self.weight.detach()
        conv = build_like(lambda: nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False), w)
        with torch.no_grad():
            conv.weight.copy_(w[:, :, None, None])
        return conv.train(self.training)


@register_op("osc")
class OrthoSeparableConv2d(SeparableOpBase):
    """Orthonormal Separable Convolution: 1x1 factored through ``m`` channels, then the depthwise pair.

    ::

        x (Cin, F, T) --W: 1x1--> (m, F, T) --1x1--> (Cout, F, T) --dw 3x1, s_f--> --dw 1x3, s_t--> (Cout, F', T')

    ``m = min(Cin, max(min_mid_chs, ceil(p * Cin)))``: the rows of ``W`` (shape ``(m, Cin)``) can only be
    orthonormal when ``m <= Cin``, hence the clamp to ``Cin``. The rows are kept orthonormal either softly
    (``orthogonal="soft"``: :meth:`reg_loss` gives ``||W W^T - I||_F`` for the training loss, see
    :func:`ortho_reg_loss`) or exactly (``orthogonal="exact"``: ``torch.nn.utils.parametrizations.orthogonal``).
    Descends from BSConv-S (Haase & Amthor, CVPR 2020; p = 1/4, alpha = 0.1).

    Args:
        in_chs: input channels ``Cin``.
        out_chs: output channels ``Cout``.
        p: subspace ratio in (0, 1] (default 1/4).
        min_mid_chs: lower bound on ``m`` (default 4).
        orthogonal: ``"soft"`` or ``"exact"``.
        stride: as :class:`SeparableConv2d`.
        dilation: as :class:`SeparableConv2d`.
        bias: as :class:`SeparableConv2d`.
        norm_layer: as :class:`SeparableConv2d`.
        act_layer: as :class:`SeparableConv2d`.
        freq_kernel: as :class:`SeparableConv2d` (``kf``, default 3).

    Shape:
        ``(B, Cin, F, T) -> (B, Cout, F', T')``, ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``m * Cin + m * Cout + (kf + 3) * Cout`` (+ ``Cout`` with bias, + the norm's).
    MACs: ``(m * Cin + m * Cout) * F * T + kf * Cout * F' * T + 3 * Cout * F' * T'`` (``kf = 3`` by default).
    """

    def __init__(self, in_chs: int, out_chs: int, *, p: float = 0.25, min_mid_chs: int = 4,
                 orthogonal: str = "soft", stride: IntOrPair = 1, dilation: IntOrPair = 1, bias: bool = False,
                 norm_layer: LayerType = None, act_layer: LayerType = None, freq_kernel: int = 3) -> None:
        super().__init__(in_chs, out_chs, stride=stride, dilation=dilation, norm_layer=norm_layer,
                         act_layer=act_layer)
        self.p = check_ratio(p, "p")
        check_channels(min_mid_chs, "min_mid_chs")
        if orthogonal not in ORTHOGONAL_MODES:
            raise ValueError(f"orthogonal must be one of {ORTHOGONAL_MODES}, got {orthogonal!r}")
        self.orthogonal = orthogonal
        self.mid_chs = min(self.in_chs, max(min_mid_chs, math.ceil(self.p * self.in_chs)))
        if orthogonal == "exact":
            self.reduce = OrthoPointwise(self.in_chs, self.mid_chs)
        else:
            self.reduce = nn.Conv2d(self.in_chs, self.mid_chs, 1, bias=False)
        self.expand = nn.Conv2d(self.mid_chs, self.out_chs, 1, bias=False)
        self.dw = DepthwisePair(self.out_chs, self.stride, self.dilation, bias=bias, freq_kernel=freq_kernel)

    def ortho_weight(self) -> torch.Tensor:
        """The first 1x1 factor ``W`` as an ``(m, Cin)`` matrix (in both modes)."""
        return self.reduce.weight.reshape(self.mid_chs, self.in_chs)

    def reg_loss(self) -> torch.Tensor:
        """``||W W^T - I||_F`` of the first factor; 0 exactly when ``W`` has orthonormal rows."""
        w = self.ortho_weight()
        eye = torch.eye(self.mid_chs, dtype=w.dtype, device=w.device)
        return torch.linalg.matrix_norm(w @ w.t() - eye, ord="fro")

    def _conv_params(self) -> int:
        return self.mid_chs * (self.in_chs + self.out_chs) + self.dw.params()

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``(m * Cin + m * Cout) * F * T + kf * Cout * F' * T + 3 * Cout * F' * T'``."""
        _, f, t = check_input_size(input_size, type(self).__name__, self.in_chs)
        return self.mid_chs * (self.in_chs + self.out_chs) * f * t + self.dw.macs(f, t)

    def dtype_weight(self) -> Optional[torch.Tensor]:
        """``expand.weight``."""
        return self.expand.weight

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.expand(self.reduce(x)))

    def inference_form(self) -> nn.Module:
        """``ConvChain(reduce 1x1, expand 1x1, depthwise kxk[, act])`` once the norm is folded, the pair merged and
        an exact ``reduce`` a plain convolution; else ``self``."""
        return self._chain_of(self.reduce, self.expand, self.dw)

    def merge_pointwise(self) -> SeparableConv2d:
        """An SC equal to this operator: the 1x1 factors ``Cin -> m -> Cout`` multiplied into one ``Cin -> Cout``
        1x1 (MACs ``Cin Cout F T`` instead of ``m (Cin + Cout) F T``); depthwise, norm and activation move over."""
        w_reduce = self.ortho_weight().detach().double()  # (m, Cin), also under a parametrization
        w_expand = self.expand.weight.detach().double()[:, :, 0, 0]  # (Cout, m)
        ref = self.expand.weight
        sc = build_like(lambda: SeparableConv2d(self.in_chs, self.out_chs, stride=self.stride,
                                                dilation=self.dilation), ref)
        with torch.no_grad():
            sc.pw.weight.copy_((w_expand @ w_reduce).to(ref.dtype)[:, :, None, None])
        sc.dw, sc.norm, sc.act = self.dw, self.norm, self.act
        sc.op_label = self.op_label
        return sc.train(self.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mid_chs={self.mid_chs}, orthogonal={self.orthogonal!r}"


OSC = OrthoSeparableConv2d


def ortho_reg_loss(model: nn.Module, alpha: float = 0.1) -> torch.Tensor:
    """``alpha * sum(||W W^T - I||_F)`` over every soft-mode OSC in ``model``, ready to add to a loss.

    Exact-mode OSC are orthonormal by construction and contribute nothing. Returns a zero tensor
    (on the model's device) when the model has no soft OSC.
    """
    terms = [m.reg_loss() for m in model.modules() if isinstance(m, OrthoSeparableConv2d) and m.orthogonal == "soft"]
    if not terms:
        ref = next(model.parameters(), None)
        return torch.zeros((), device=ref.device if ref is not None else None)
    return alpha * torch.stack(terms).sum()
