"""Separable Partial Convolution (SPC): SC on a slice of the channels, the rest passed through."""
from __future__ import annotations

import copy
import math
from typing import Tuple

import torch
import torch.nn as nn

from ..validation import IntOrPair, check_input_size, check_ratio, conv_out_len
from ._registry import register_op
from .base import LayerType, SeparableOpBase
from .conv_chain import ConvChain
from .depthwise_pair import DepthwiseConv3x3, DepthwisePair, check_freq_kernel
from .folding import bn_affine, build_like, fold_norm_into
from .separable_conv import SeparableConv2d

__all__ = ["SeparablePartialConv2d", "SPC", "FoldedPartialConv2d"]


@register_op("spc")
class SeparablePartialConv2d(SeparableOpBase):
    """Separable Partial Convolution: an SC on the first ``Cp = ceil(ratio * Cin)`` channels only.

    ::

        x (Cin, F, T) --split--> [:Cp] --SC(Cp -> Cp)--> (Cp, F', T') --+
                                 [Cp:] --decimate by stride----------> --cat--> (Cin, F', T') --1x1 if Cin != Cout-->

    The untouched channels come out bit-identical (at stride 1; with stride they are decimated,
    ``x[..., ::s_f, ::s_t]``, which has the same ``F' x T'`` as the convolution). A 1x1 projection
    ``Cin -> Cout`` follows when ``Cin != Cout``. Descends from FasterNet's partial convolution
    (Chen et al., CVPR 2023; ratio 1/4) with SC as the partial operator.

    Args:
        in_chs: input channels ``Cin``.
        out_chs: output channels ``Cout``.
        ratio: fraction of channels convolved, in (0, 1] (default 1/4).
        stride: as :class:`SeparableConv2d`, applied to the convolved slice.
        dilation: as :class:`SeparableConv2d`, applied to the convolved slice.
        bias: bias on the last convolution (the projection if there is one, else the inner SC).
        norm_layer: optional norm after the operator.
        act_layer: optional activation after the norm.
        freq_kernel: ``kf``, the inner SC's depthwise frequency kernel (default 3; see :class:`SeparableConv2d`).

    Shape:
        ``(B, Cin, F, T) -> (B, Cout, F', T')``, ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``Cp * Cp + (kf + 3) * Cp`` (+ ``Cin * Cout`` when ``Cin != Cout``; + bias; + the norm's).
    MACs: ``Cp * Cp * F * T + kf * Cp * F' * T + 3 * Cp * F' * T'`` (+ ``Cin * Cout * F' * T'`` when
    ``Cin != Cout``; ``kf = 3`` by default).
    """

    def __init__(self, in_chs: int, out_chs: int, *, ratio: float = 0.25, stride: IntOrPair = 1,
                 dilation: IntOrPair = 1, bias: bool = False, norm_layer: LayerType = None,
                 act_layer: LayerType = None, freq_kernel: int = 3) -> None:
        super().__init__(in_chs, out_chs, stride=stride, dilation=dilation, norm_layer=norm_layer,
                         act_layer=act_layer)
        self.ratio = check_ratio(ratio, "ratio")
        self._freq_kernel = check_freq_kernel(freq_kernel)
        self.part_chs = math.ceil(self.ratio * self.in_chs)
        self.rest_chs = self.in_chs - self.part_chs
        has_proj = self.in_chs != self.out_chs
        self.sc = SeparableConv2d(self.part_chs, self.part_chs, stride=self.stride, dilation=self.dilation,
                                  bias=bias and not has_proj, freq_kernel=freq_kernel)
        self.proj = nn.Conv2d(self.in_chs, self.out_chs, 1, bias=bias) if has_proj else nn.Identity()

    @property
    def freq_kernel(self) -> int:
        """The inner SC's depthwise frequency kernel ``kf``."""
        return self._freq_kernel

    def _conv_params(self) -> int:
        proj = self.in_chs * self.out_chs + (self.out_chs if self.proj.bias is not None else 0) \
            if isinstance(self.proj, nn.Conv2d) else 0
        return self.sc.params() + proj

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``Cp^2 * F * T + kf * Cp * F' * T + 3 * Cp * F' * T'`` (+ ``Cin * Cout * F' * T'`` with a projection)."""
        _, f, t = check_input_size(input_size, type(self).__name__, self.in_chs)
        macs = self.sc.macs((self.part_chs, f, t))
        if isinstance(self.proj, nn.Conv2d):
            macs += self.in_chs * self.out_chs * conv_out_len(f, self.stride[0]) * conv_out_len(t, self.stride[1])
        return macs

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rest_chs == 0:
            return self.proj(self.sc(x))
        part, rest = torch.split(x, [self.part_chs, self.rest_chs], dim=1)
        if self.stride != (1, 1):
            rest = rest[:, :, :: self.stride[0], :: self.stride[1]]
        return self.proj(torch.cat([self.sc(part), rest], dim=1))

    def fold_norm(self) -> nn.Module:
        """Fold the eval-mode BatchNorm ``self.norm``: into the projection when there is one; else the norm of
        the first ``Cp`` channels into the inner SC and the rest as a per-channel affine
        (:class:`FoldedPartialConv2d`).

        Returns:
            The module to use instead.
        """
        if isinstance(self.proj, nn.Conv2d):
            return fold_norm_into(self, self, "proj")
        bn = self.norm
        if self.rest_chs == 0:
            self.sc.norm, self.norm = bn, nn.Identity()
            self.sc.fold_norm()
            return self
        scale, shift = bn_affine(bn)
        part_bn = copy.deepcopy(bn)  # the norm of the first Cp channels, folded into the inner SC
        part_bn.num_features = self.part_chs
        for key in ("weight", "bias"):
            if getattr(bn, key) is not None:
                setattr(part_bn, key, nn.Parameter(getattr(bn, key).detach()[: self.part_chs].clone()))
        for key in ("running_mean", "running_var"):
            setattr(part_bn, key, getattr(bn, key)[: self.part_chs].clone())
        self.sc.norm = part_bn
        self.sc.fold_norm()
        dtype = bn.running_var.dtype
        return FoldedPartialConv2d(self, scale[self.part_chs:].to(dtype), shift[self.part_chs:].to(dtype))

    def inference_form(self) -> nn.Module:
        """:meth:`as_full_width` once the norm is folded and the inner pair merged; else ``self``."""
        if not isinstance(self.norm, nn.Identity) or isinstance(getattr(self.sc, "dw", None), DepthwisePair):
            return self
        return self.as_full_width()

    def as_full_width(self) -> ConvChain:
        """The operator as ``1x1 (Cin -> Cin) -> depthwise kxk (Cin) [-> projection] [-> activation]`` over all
        channels: the same function, with no split and no concatenation.

        The 1x1 is block-diagonal ``[[W_p, 0], [0, I]]``; a passed-through channel's depthwise kernel is its centre
        tap alone (the folded norm's scale, or 1) with the shift as its bias, so the stride decimates it as SPC's
        slice does. The inner depthwise pair becomes its merged kernel. Exact, at
        ``(Cin^2 - Cp^2) F T + k^2 (Cin - Cp) F' T'`` more MACs than the partial form.

        Raises:
            ValueError: when the output norm is not folded yet (:meth:`fold_norm`, or :func:`lightops.deploy.fuse`).
        """
        if not isinstance(self.norm, nn.Identity):
            raise ValueError(f"{type(self).__name__}.as_full_width: fold the output norm first (fold_norm(), or "
                             f"lightops.deploy.fuse), got norm {type(self.norm).__name__}")
        pw, dw = self._inner_convs()
        cin, cp = self.in_chs, self.part_chs
        scale, shift = getattr(self, "rest_scale", None), getattr(self, "rest_shift", None)
        new_pw = build_like(lambda: nn.Conv2d(cin, cin, 1, bias=pw.bias is not None), pw.weight)
        kf, kt = dw.kernel_size
        new_dw = build_like(lambda: DepthwiseConv3x3(cin, dw.stride, dw.dilation, kernel_size=(kf, kt),
                                                     bias=dw.bias is not None or shift is not None), pw.weight)
        zeros = lambda n: torch.zeros(n, dtype=pw.weight.dtype, device=pw.weight.device)  # noqa: E731
        with torch.no_grad():
            w = torch.zeros_like(new_pw.weight)
            w[:cp, :cp] = pw.weight
            w[cp:, cp:, 0, 0] = torch.eye(cin - cp, dtype=w.dtype, device=w.device)
            new_pw.weight.copy_(w)
            if new_pw.bias is not None:
                new_pw.bias.copy_(torch.cat([pw.bias.detach(), zeros(cin - cp)]))
            kernel = torch.zeros_like(new_dw.weight)
            kernel[:cp] = dw.weight
            kernel[cp:, 0, kf // 2, kt // 2] = 1.0 if scale is None else scale.reshape(-1)
            new_dw.weight.copy_(kernel)
            if new_dw.bias is not None:
                part = dw.bias.detach() if dw.bias is not None else zeros(cp)
                new_dw.bias.copy_(torch.cat([part, shift.reshape(-1) if shift is not None else zeros(cin - cp)]))
        layers = [new_pw, new_dw.train(self.training)]
        if isinstance(self.proj, nn.Conv2d):
            layers.append(self.proj)
        if not isinstance(self.act, nn.Identity):
            layers.append(self.act)
        return ConvChain(*layers).train(self.training)

    def can_group(self) -> bool:
        """Whether :meth:`as_grouped` applies: ``Cp`` divides ``Cin`` and some channels are passed through."""
        return 0 < self.part_chs < self.in_chs and self.in_chs % self.part_chs == 0

    def as_grouped(self) -> ConvChain:
        """:meth:`as_full_width` with its block-diagonal 1x1 as a grouped 1x1 of ``Cin / Cp`` groups (the first
        ``W_p``, the others identity blocks): the same function at ``Cin Cp F T`` MACs for the 1x1 instead of
        ``Cin^2 F T``. Measured slower than the full-width 1x1 in ONNX Runtime and ExecuTorch on x86 CPUs
        (docs/deploy.md, ``spc-forms``): the form for a runtime with fast grouped convolutions.

        Raises:
            ValueError: when ``Cp`` does not divide ``Cin`` (:meth:`can_group`), or as :meth:`as_full_width`.
        """
        if not self.can_group():
            raise ValueError(f"{type(self).__name__}.as_grouped: needs Cp ({self.part_chs}) to divide Cin "
                             f"({self.in_chs}) with channels passed through; use as_full_width()")
        chain = self.as_full_width()
        full, cin, cp = chain[0], self.in_chs, self.part_chs
        groups = cin // cp
        pw = build_like(lambda: nn.Conv2d(cin, cin, 1, groups=groups, bias=full.bias is not None), full.weight)
        with torch.no_grad():  # the diagonal blocks of the block-diagonal weight, one per group
            w = full.weight.reshape(groups, cp, groups, cp)
            pw.weight.copy_(torch.stack([w[g, :, g] for g in range(groups)]).reshape(cin, cp, 1, 1))
            if full.bias is not None:
                pw.bias.copy_(full.bias)
        return ConvChain(pw, *list(chain)[1:]).train(self.training)

    def _inner_convs(self) -> Tuple[nn.Conv2d, nn.Conv2d]:
        """The inner SC's 1x1 and its depthwise kernel as one ``k x k`` convolution (its norm folded)."""
        sc = self.sc
        if isinstance(sc, nn.Sequential):  # the inner SC already in its inference form
            pw, dw = sc[0], sc[1]
        else:
            if not isinstance(sc.norm, nn.Identity) or not isinstance(sc.act, nn.Identity):
                raise ValueError(f"{type(self).__name__}.as_full_width: the inner SC has a norm or activation")
            pw, dw = sc.pw, sc.dw
        return pw, dw.inference_form() if isinstance(dw, DepthwisePair) else dw

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, part_chs={self.part_chs}"


class FoldedPartialConv2d(SeparablePartialConv2d):
    """SPC without projection, its output norm folded: the norm of the convolved channels sits in the inner SC,
    the passed-through channels get the norm's per-channel affine ``rest * scale + shift``.

    ::

        x --split--> [:Cp] --SC (norm folded)----------------> --+
                     [Cp:] --decimate--> * scale + shift ---> --cat--> (then the activation, as SPC)

    Built by :meth:`SeparablePartialConv2d.fold_norm` (called by :func:`lightops.deploy.fuse`); params and MACs
    formulas are SPC's (the affine, like the norm it replaces, is not counted).
    """

    def __init__(self, spc: SeparablePartialConv2d, rest_scale: torch.Tensor, rest_shift: torch.Tensor) -> None:
        with torch.device("meta"):  # the throwaway inner SC is replaced below: no init, no RNG draw
            super().__init__(spc.in_chs, spc.out_chs, ratio=spc.ratio, stride=spc.stride, dilation=spc.dilation,
                             freq_kernel=spc.freq_kernel)
        self.sc, self.proj, self.act = spc.sc, spc.proj, spc.act
        self.op_label = spc.op_label
        self.register_buffer("rest_scale", rest_scale.reshape(1, -1, 1, 1))  # (1, Cin - Cp, 1, 1)
        self.register_buffer("rest_shift", rest_shift.reshape(1, -1, 1, 1))
        self.train(spc.training)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        part, rest = torch.split(x, [self.part_chs, self.rest_chs], dim=1)
        if self.stride != (1, 1):
            rest = rest[:, :, :: self.stride[0], :: self.stride[1]]
        rest = torch.addcmul(self.rest_shift, rest, self.rest_scale)  # (B, Cin - Cp, F', T')
        return self.proj(torch.cat([self.sc(part), rest], dim=1))


SPC = SeparablePartialConv2d
