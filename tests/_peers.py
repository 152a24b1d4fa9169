"""Peer operators: what a user would pick instead of SC, OSC or SPC, with their params and MACs formulas.

Every peer maps ``(B, in_chs, F, T) -> (B, out_chs, F, T)`` at stride 1 ('same' padding), mixes channels and
filters the spectrogram spatially, like the DSSDN operators:

=============  ==========================================================================================
``dense``      one dense 3x3 convolution (``nn.Conv2d``), the unfactored reference.
``dwsep``      depthwise-separable convolution, timm's ``SeparableConv2d``: depthwise 3x3 on ``Cin``, then
               1x1 ``Cin -> Cout`` (MobileNet v1, Xception). The reference the operator tables divide by.
``bsconv_u``   BSConv-U (Haase & Amthor, CVPR 2020): 1x1 ``Cin -> Cout``, then depthwise 3x3 on ``Cout``.
               SC is BSConv-U with the 3x3 depthwise kernel split into 3x1 and 1x3.
``ghost``      GhostNet's ghost module, timm's ``GhostModule``: 1x1 ``Cin -> ceil(Cout/2)``, a depthwise 3x3
               makes as many "ghost" maps, both concatenated (BatchNorm after each convolution, as in
               GhostNet; the activation is left out, as the other operators have none).
``pconv_pw``   FasterNet's partial convolution followed by a pointwise convolution (Chen et al., CVPR 2023):
               a dense 3x3 on the first ``Cp = Cin // 4`` channels, the other channels passed through
               (``PConv``), then 1x1 ``Cin -> Cout``. ``PConv`` alone mixes no channels; the 1x1 makes it do
               the same job as SC (FasterNet's block follows PConv with two 1x1 layers). SPC descends from it.
=============  ==========================================================================================

MACs follow the DCASE convention used throughout lightops (convolution multiply-accumulates at batch 1; bias,
normalisation and concatenation cost 0) and equal ``FlopCounterMode`` / 2 (``tests/benchmarks``). Params are
trainable parameters (the ghost module's BatchNorm affine parameters included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn

__all__ = ["PartialConv3", "PConvPW", "BSConvU", "Peer", "PEERS", "REFERENCE_PEER", "create_peer", "list_peers"]

REFERENCE_PEER = "dwsep"


class PartialConv3(nn.Module):
    """FasterNet's ``PConv``: dense 3x3 on the first ``Cp = chs // n_div`` channels, the rest untouched.

    As ``Partial_conv3`` of the FasterNet reference code, with its two forward paths: ``"split_cat"`` (split,
    convolve, concatenate; training path) and ``"slicing"`` (clone, convolve the first channels in place;
    inference path).

    Args:
        chs: channels (input = output).
        n_div: ``Cp = chs // n_div`` (default 4, FasterNet's ratio 1/4).
        forward_mode: ``"split_cat"`` or ``"slicing"``.

    Shape: ``(B, C, F, T) -> (B, C, F, T)``. Params: ``9 Cp^2``. MACs: ``9 Cp^2 F T``.
    """

    def __init__(self, chs: int, n_div: int = 4, forward_mode: str = "split_cat") -> None:
        super().__init__()
        if forward_mode not in ("split_cat", "slicing"):
            raise ValueError(f"forward_mode must be 'split_cat' or 'slicing', got {forward_mode!r}")
        self.part_chs = max(1, chs // n_div)
        self.rest_chs = chs - self.part_chs
        self.forward_mode = forward_mode
        self.conv = nn.Conv2d(self.part_chs, self.part_chs, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        if self.forward_mode == "slicing":
            x = x.clone()
            x[:, : self.part_chs] = self.conv(x[:, : self.part_chs])
            return x
        part, rest = torch.split(x, [self.part_chs, self.rest_chs], dim=1)
        return torch.cat([self.conv(part), rest], dim=1)


class PConvPW(nn.Sequential):
    """FasterNet ``PConv`` then a 1x1 ``Cin -> Cout``: the partial convolution made to mix channels.

    Shape: ``(B, Cin, F, T) -> (B, Cout, F, T)``. Params: ``9 Cp^2 + Cin Cout``. MACs: ``(9 Cp^2 + Cin Cout) F T``
    with ``Cp = Cin // 4``.
    """

    def __init__(self, in_chs: int, out_chs: int, n_div: int = 4) -> None:
        super().__init__(PartialConv3(in_chs, n_div), nn.Conv2d(in_chs, out_chs, 1, bias=False))


class BSConvU(nn.Sequential):
    """BSConv-U: 1x1 ``Cin -> Cout`` then depthwise 3x3 on ``Cout`` (Haase & Amthor, CVPR 2020).

    Shape: ``(B, Cin, F, T) -> (B, Cout, F, T)``. Params: ``Cin Cout + 9 Cout``. MACs: ``(Cin Cout + 9 Cout) F T``.
    """

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__(nn.Conv2d(in_chs, out_chs, 1, bias=False),
                         nn.Conv2d(out_chs, out_chs, 3, padding=1, groups=out_chs, bias=False))


def _dense(in_chs: int, out_chs: int) -> nn.Module:
    return nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False)


def _dwsep(in_chs: int, out_chs: int) -> nn.Module:
    from timm.layers import SeparableConv2d

    return SeparableConv2d(in_chs, out_chs, kernel_size=3)


def _ghost(in_chs: int, out_chs: int) -> nn.Module:
    from timm.models.ghostnet import GhostModule

    return GhostModule(in_chs, out_chs, kernel_size=1, ratio=2, dw_size=3, act_layer=nn.Identity)


def _ghost_chs(out_chs: int) -> Tuple[int, int]:
    init = math.ceil(out_chs / 2)  # GhostModule: init_chs = ceil(out / ratio), new_chs = init * (ratio - 1)
    return init, init


@dataclass(frozen=True)
class Peer:
    """A peer operator: how to build it and its closed-form params and MACs at stride 1.

    Attributes:
        name: short key (``"dwsep"``).
        label: name in tables.
        build: ``build(in_chs, out_chs) -> nn.Module``.
        params: ``params(in_chs, out_chs) -> int`` (trainable parameters).
        macs: ``macs(in_chs, out_chs, F, T) -> int`` (batch 1).
    """

    name: str
    label: str
    build: Callable[[int, int], nn.Module]
    params: Callable[[int, int], int]
    macs: Callable[[int, int, int, int], int]


PEERS: Dict[str, Peer] = {p.name: p for p in (
    Peer("dense", "dense 3x3 conv", _dense,
         lambda i, o: 9 * i * o,
         lambda i, o, f, t: 9 * i * o * f * t),
    Peer("dwsep", "depthwise-separable (timm)", _dwsep,
         lambda i, o: 9 * i + i * o,
         lambda i, o, f, t: (9 * i + i * o) * f * t),
    Peer("bsconv_u", "BSConv-U", BSConvU,
         lambda i, o: i * o + 9 * o,
         lambda i, o, f, t: (i * o + 9 * o) * f * t),
    Peer("ghost", "ghost module (timm)", _ghost,
         lambda i, o: i * _ghost_chs(o)[0] + 9 * _ghost_chs(o)[1] + 2 * sum(_ghost_chs(o)),
         lambda i, o, f, t: (i * _ghost_chs(o)[0] + 9 * _ghost_chs(o)[1]) * f * t),
    Peer("pconv_pw", "FasterNet PConv + 1x1", PConvPW,
         lambda i, o: 9 * max(1, i // 4) ** 2 + i * o,
         lambda i, o, f, t: (9 * max(1, i // 4) ** 2 + i * o) * f * t),
)}


def list_peers() -> List[str]:
    """Peer names, the reference (``dwsep``) first."""
    return [REFERENCE_PEER] + sorted(n for n in PEERS if n != REFERENCE_PEER)


def create_peer(name: str, in_chs: int, out_chs: int) -> nn.Module:
    """Build peer ``name`` (see :data:`PEERS`) for ``in_chs -> out_chs`` channels, in eval mode."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r}; expected one of {list_peers()}")
    return PEERS[name].build(in_chs, out_chs).eval()
