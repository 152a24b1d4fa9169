"""Deep Space Separable Distilled Block (DSSDB)."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import DropPath, create_act_layer, get_act_layer, get_norm_layer

from .. import validation
from ..ops import bands, create_op
from ..ops.base import LayerType, count_params
from ..ops.depthwise_pair import check_freq_kernel
from ..validation import check_channels, check_input_size, check_ratio
from .attention import create_attn
from .dssdb_deploy import DeployDSSDB

__all__ = ["DSSDB", "PointwiseNormAct"]


class PointwiseNormAct(nn.Sequential):
    """1x1 convolution (no bias), norm, optional activation.

    Params: ``Cin * Cout`` + the norm's. MACs: ``Cin * Cout * F * T``.
    """

    def __init__(self, in_chs: int, out_chs: int, norm_layer: type, act_layer: Optional[type]) -> None:
        super().__init__()
        self.in_chs, self.out_chs = in_chs, out_chs
        self.conv = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn = norm_layer(out_chs)
        self.act = create_act_layer(act_layer, inplace=True) or nn.Identity()

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``Cin * Cout * F * T``."""
        _, f, t = input_size
        return self.in_chs * self.out_chs * f * t


def _need_two_bins(f: int, got: str) -> None:
    """Raise ``ValueError`` unless there are the two frequency bins a split into bands needs (``got``: what was
    given, for the message)."""
    if f < 2:
        raise ValueError(f"DSSDB: needs F >= 2 frequency bins to split into bands, got {got}")


@torch.fx.wrap
def _check_bins(x: torch.Tensor) -> None:
    """:func:`_need_two_bins` for an input ``(B, Cin, F, T)``."""
    _need_two_bins(x.shape[2], f"shape {list(x.shape)}")


class DSSDB(nn.Module):
    """Deep Space Separable Distilled Block: a distillation path on the low band, a 1x1 path for the high band.

    ::

        x (Cin, F, T) --split F--> low (Cin, Fl, T), high (Cin, Fh, T)        Fl = ceil(low_ratio * F)
                      ("haar": low = (x[2i] + x[2i+1]) / 2, high = (x[2i] - x[2i+1]) / 2, Fl = ceil(F / 2))
        low:  d1 = pw(low)             r1 = act(op1(low) [+ low if Cin == C])       pw: 1x1 -> Cd
              d2 = pw(r1)              r2 = act(op2(r1) + r1)
              d3 = pw(r2)              r3 = act(op3(r2) + r2)
              d4 = act(op4(r3): C -> Cd)
              y  = merge(cat[d1, d2, d3, d4])                                      1x1 4*Cd -> C, norm
        high: h  = pw(high): Cin -> C                    1x1, norm (or ``high_op``: an operator + norm)
        z   = join(y, h)      "add": y + h pooled to Fl bins; "stack": cat_F[y, h] pooled to Fl bins
        out = act(attn(z)), then average pooling over time by ``time_pool``        (C, Fl, ceil(T / time_pool))

    The distill/refine structure follows RFDN's RFDB and BSRN's ESDB; the low/high split with a 1x1 high
    path follows Ye & Tian's DCASE 2023 report (arXiv 2405.03567 for DSSDN). Every ``op`` comes from
    :func:`lightops.create_op`, so a user's registered operator plugs in by name.

    Args:
        in_chs: input channels ``Cin``.
        out_chs: block width ``C``.
        op: operator name from :func:`lightops.list_ops` (default ``"sc"``).
        op_kwargs: extra options for the operator (e.g. ``{"orthogonal": "exact"}``).
        low_ratio: fraction of frequency bins in the low band, in (0, 1) (default 1/2).
        distill_ratio: ``Cd = max(1, round(distill_ratio * C))`` channels per distilled tap (default 1/2).
        attn: ``"eca"``, ``"cca"`` or ``None``.
        time_pool: average-pooling factor over time at the output (1 = none), ``ceil_mode``.
        norm_layer: norm after every convolution (name or class; default BatchNorm2d).
        act_layer: activation (name or class; default ReLU).
        drop_path: stochastic-depth rate on the residual refinements.
        join: how the high band joins (:func:`lightops.ops.bands.join_bands`): ``"add"`` (default; output bin ``i``
            is low bin ``i`` plus high bin ``i``, the bands folded together) or ``"stack"`` (the bands side by side in
            frequency order, pooled to ``Fl`` bins, so each output bin covers one region of the spectrum). Same
            params and MACs.
        high_op: the high band's path: ``None`` (default, the paper's 1x1 convolution and norm) or an operator name
            from :func:`lightops.list_ops` (with the block's norm, no activation), e.g. ``"sc"``: depthwise frequency
            and time kernels after the 1x1, so the high band reaches the output through local filters.
        split: how the frequency axis is split (:data:`lightops.ops.bands.SPLITS`): ``"band"`` (default, the
            authors' report: the lowest ``Fl`` bins go deep, the rest is the high band) or ``"haar"`` (one Haar step
            along frequency, :func:`~lightops.ops.bands.split_haar`: the means of neighbouring bin pairs go deep, so
            the deep path sees the whole spectrum at half the resolution, and half their differences take the
            high band's 1x1; output bin ``i`` covers input bins ``2i`` and ``2i + 1``). ``"haar"`` needs
            ``low_ratio = 0.5`` and ``join = "add"``. Same params and MACs (the split itself is adds).
        freq_kernel: the depthwise frequency kernel of the four operators (default 3, the operator's own; 1: they
            filter over time only, so the block widens the frequency receptive field only by its split).

    Shape:
        ``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))`` for ``F >= 2``.

    Params: ``sum(op params) + (Cin + 2 C) Cd + 4 Cd C + Cin C`` + norms + attention (``high_op``: its params in
    place of ``Cin C``).
    MACs: ``(Cin Cd + 2 C Cd + 4 Cd C) Fl T + sum(op MACs on (., Fl, T)) + Cin C Fh T + attention`` (``high_op``: its
    MACs on ``(Cin, Fh, T)`` in place of ``Cin C Fh T``).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        op: str = "sc",
        op_kwargs: Optional[Dict[str, Any]] = None,
        low_ratio: float = 0.5,
        distill_ratio: float = 0.5,
        attn: Optional[str] = "eca",
        time_pool: int = 1,
        norm_layer: LayerType = "batchnorm2d",
        act_layer: LayerType = "relu",
        drop_path: float = 0.0,
        join: str = "add",
        high_op: Optional[str] = None,
        split: str = "band",
        freq_kernel: int = 3,
    ) -> None:
        super().__init__()
        self.in_chs = check_channels(in_chs, "in_chs")
        self.out_chs = c = check_channels(out_chs, "out_chs")
        self.low_ratio = check_ratio(low_ratio, "low_ratio")
        if self.low_ratio >= 1.0:
            raise ValueError(f"low_ratio must be in (0, 1) so that a high band remains, got {low_ratio}")
        if join not in bands.JOINS:
            raise ValueError(f"DSSDB: join must be one of {bands.JOINS}, got {join!r}")
        self.join = join
        if split not in bands.SPLITS:
            raise ValueError(f"DSSDB: split must be one of {bands.SPLITS}, got {split!r}")
        if split == "haar" and (self.low_ratio != 0.5 or join != "add"):
            raise ValueError(f"DSSDB: split='haar' halves the bins (low_ratio 0.5) and adds the bands bin by bin "
                             f"(join 'add'), got low_ratio={low_ratio}, join={join!r}; split='band' takes these")
        self.split = split
        self.distill_chs = cd = max(1, round(check_ratio(distill_ratio, "distill_ratio") * c))
        self.time_pool = check_channels(time_pool, "time_pool")
        self.op_name = op
        norm = get_norm_layer(norm_layer)
        act = get_act_layer(act_layer) if act_layer is not None else None
        op_kw = dict(op_kwargs or {}, norm_layer=norm)
        self.freq_kernel = check_freq_kernel(freq_kernel)
        if freq_kernel != 3:  # passed only when asked for: a user's operator need not take it
            op_kw["freq_kernel"] = freq_kernel

        def make_op(i: int, o: int) -> nn.Module:
            try:
                return create_op(op, i, o, **op_kw)
            except TypeError as e:
                if "freq_kernel" not in op_kw or "freq_kernel" not in str(e):
                    raise
                raise ValueError(f"DSSDB: operator {op!r} takes no freq_kernel argument (asked for "
                                 f"freq_kernel={freq_kernel}); the operators of lightops do") from None

        self.distill = nn.ModuleList([PointwiseNormAct(ch, cd, norm, act) for ch in (in_chs, c, c)])
        self.refine = nn.ModuleList([make_op(in_chs, c), make_op(c, c), make_op(c, c)])
        self.first_residual = in_chs == c
        self.last = make_op(c, cd)
        self.merge = PointwiseNormAct(4 * cd, c, norm, None)
        self.high_op = high_op
        self.high = PointwiseNormAct(in_chs, c, norm, None) if high_op is None else create_op(
            high_op, in_chs, c, norm_layer=norm)
        self.attn = create_attn(attn, c)
        self.act = create_act_layer(act, inplace=False) or nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.pool = nn.AvgPool2d((1, time_pool), ceil_mode=True) if time_pool > 1 else nn.Identity()

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, Fl, ceil(T / time_pool))`` for an input ``(Cin, F, T)``."""
        _, f, t = self._check_size(input_size)
        return self.out_chs, bands.low_band_bins(f, self.low_ratio), math.ceil(t / self.time_pool)

    def _check_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        size = check_input_size(input_size, "DSSDB", self.in_chs)
        _need_two_bins(size[1], f"input (C, F, T) = {size}")
        return size

    def params(self) -> int:
        """Trainable parameters (operators' formulas + the 1x1 convolutions + norms + attention)."""
        ops = sum(m.params() for m in (*self.refine, self.last))
        pw = sum(m.in_chs * m.out_chs + count_params(m.bn) for m in (*self.distill, self.merge, *self._pw_high()))
        high = self.high.params() if self.high_op is not None else 0
        return ops + pw + high + count_params(self.attn)

    def _pw_high(self) -> Tuple[nn.Module, ...]:
        """The high path when it is the paper's 1x1 + norm (``high_op`` None), else nothing."""
        return (self.high,) if self.high_op is None else ()

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs at batch 1 for an input ``(Cin, F, T)`` (the formula in the class docstring)."""
        cin, f, t = self._check_size(input_size)
        fl = bands.low_band_bins(f, self.low_ratio)
        c = self.out_chs
        low_in, low = (cin, fl, t), (c, fl, t)
        macs = self.distill[0].macs(low_in) + sum(d.macs(low) for d in self.distill[1:])
        macs += self.refine[0].macs(low_in) + sum(r.macs(low) for r in self.refine[1:]) + self.last.macs(low)
        macs += self.merge.macs((4 * self.distill_chs, fl, t)) + self.high.macs((cin, f - fl, t))
        if hasattr(self.attn, "macs"):
            macs += self.attn.macs(low)
        return macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))``."""
        validation.check_input(x, self.in_chs, "DSSDB")
        _check_bins(x)
        if self.split == "haar":
            low, high = bands.split_haar(x)  # (B, Cin, Fl, T), (B, Cin, Fh, T): pair means and half differences
        else:
            low, high = bands.split_bands(x, self.low_ratio)  # (B, Cin, Fl, T), (B, Cin, Fh, T)
        taps = [self.distill[0](low)]
        r = self.refine[0](low)
        if self.first_residual:
            r = low + self.drop_path(r)
        r = self.act(r)
        # Stages 2 and 3 written out: TorchScript indexes a ModuleList only with constants.
        taps.append(self.distill[1](r))
        r = self.act(r + self.drop_path(self.refine[1](r)))  # (B, C, Fl, T)
        taps.append(self.distill[2](r))
        r = self.act(r + self.drop_path(self.refine[2](r)))  # (B, C, Fl, T)
        taps.append(self.act(self.last(r)))
        y = self.merge(torch.cat(taps, dim=1))  # (B, 4 Cd, Fl, T) -> (B, C, Fl, T)
        if self.split == "haar":
            z = bands.join_haar(y, self.high(high))  # (B, C, Fl, T)
        else:
            z = bands.join_bands(y, self.high(high), self.join)  # (B, C, Fl, T)
        return self.pool(self.act(self.attn(z)))

    def inference_form(self) -> nn.Module:
        """The block as a short chain of convolutions (:class:`~lightops.blocks.DeployDSSDB`), in eval mode once its
        pointwise norms are folded (``lightops.deploy.fuse``; its operators and attention already in their
        inference form); ``self`` otherwise."""
        pnas = (*self.distill, self.merge, *self._pw_high())
        folded = all(isinstance(getattr(p, "bn", None) or nn.Identity(), nn.Identity) for p in pnas)
        no_act = all(isinstance(getattr(p, "act", None) or nn.Identity(), nn.Identity)
                     for p in (self.merge, *self._pw_high()))
        if self.training or not (folded and no_act):
            return self
        return DeployDSSDB(self)

    def extra_repr(self) -> str:
        return f"{self.in_chs}, {self.out_chs}, op={self.op_name!r}, low_ratio={self.low_ratio}, " \
               f"time_pool={self.time_pool}" + (f", join={self.join!r}" if self.join != "add" else "") \
               + (f", high_op={self.high_op!r}" if self.high_op is not None else "") \
               + (f", split={self.split!r}" if self.split != "band" else "") \
               + (f", freq_kernel={self.freq_kernel}" if self.freq_kernel != 3 else "")
