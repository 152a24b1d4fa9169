"""Channel attention for DSSDB: ECA (Wang et al., CVPR 2020) and contrast-aware CCA (Hui et al., IMDN 2019).

ECA's inference form is :class:`ChannelGate` (:meth:`ECA.inference_form`): the same gate as one 1x1 convolution on
the global average.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import EcaModule

from ..ops.folding import build_like
from ..ops.padding import pad_in, pad_out

__all__ = ["ECA", "CCA", "ChannelGate", "global_mean", "create_attn", "ATTN_TYPES"]


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over ``(F, T)``, kept as ``(B, C, 1, 1)`` (exported as a ``ReduceMean``, which
    :func:`lightops.deploy.export.optimize_onnx_graph` turns into a ``GlobalAveragePool``)."""
    return x.mean((2, 3), keepdim=True)


class ECA(EcaModule):
    """Efficient channel attention: global average, a 1-D convolution of ``k`` taps across channels, sigmoid gate.

    timm's ``EcaModule`` with a ``macs`` method; ``k`` adapts to the channel count (``log2(C)`` rule).

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    Params: ``k``. MACs: ``k * C`` (the gating product is not a multiply-accumulate).
    """

    def __init__(self, chs: int) -> None:
        super().__init__(channels=chs)
        self.chs = chs

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``k * C``."""
        return self.conv.kernel_size[0] * self.chs

    def inference_form(self) -> ChannelGate:
        """The same gate as one 1x1 convolution on the global average (:class:`ChannelGate`)."""
        return ChannelGate(self).train(self.training)


class ChannelGate(nn.Module):
    """ECA in inference form: ``x * sigmoid(W mean(x))`` with ``W`` the banded ``C x C`` matrix of ECA's 1-D
    convolution across channels (zero padding), as one 1x1 convolution on the global average.

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    Params: ``C^2`` (``k`` non-zero per row). MACs: ``C^2``.
    """

    def __init__(self, eca: ECA) -> None:
        super().__init__()
        c, w = eca.chs, eca.conv.weight.detach().reshape(-1)  # (k,)
        k, pad = w.numel(), eca.conv.padding[0]
        self.chs = c
        self.conv = build_like(lambda: nn.Conv2d(c, c, 1, bias=False), eca.conv.weight)
        with torch.no_grad():
            band = torch.zeros(c, c, dtype=w.dtype, device=w.device)
            i = torch.arange(c, device=w.device)
            for j in range(k):  # out[i] = sum_j w[j] in[i + j - pad], zero outside [0, C)
                src = i + j - pad
                ok = (src >= 0) & (src < c)
                band[i[ok], src[ok]] += w[j]
            self.conv.weight.copy_(band[:, :, None, None])

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``C^2`` (of the padded width after :meth:`pad`)."""
        return self.conv.in_channels * self.conv.out_channels

    def pad(self, width: int) -> None:
        """Gate ``width`` channels: zero weights to and from the channels past ``chs`` (their input is always 0)."""
        self.conv = pad_in(pad_out(self.conv, width), width)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(W mean(x))``: ``(B, C, F, T) -> (B, C, 1, 1)``, every value in (0, 1)."""
        return torch.sigmoid(self.conv(global_mean(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        return x * self.gate(x)


class CCA(nn.Module):
    """Contrast-aware channel attention: (std + mean) per channel, 1x1 ``C -> C/r -> C``, sigmoid gate.

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    Params: ``2 * C * Cr + Cr + C`` with ``Cr = max(4, C // reduction)``. MACs: ``2 * C * Cr``.
    """

    def __init__(self, chs: int, reduction: int = 8) -> None:
        super().__init__()
        self.chs = chs
        self.rd_chs = max(4, chs // reduction)
        self.fc1 = nn.Conv2d(chs, self.rd_chs, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(self.rd_chs, chs, 1)
        self.gate = nn.Sigmoid()

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``2 * C * Cr``."""
        return 2 * self.chs * self.rd_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        mean = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).add(1e-6).sqrt()  # (B, C, 1, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(std + mean))))


ATTN_TYPES = {"eca": ECA, "cca": CCA}


def create_attn(name: Optional[str], chs: int) -> nn.Module:
    """Channel attention by name (``"eca"``, ``"cca"``) or ``nn.Identity`` for ``None``/``"none"``."""
    if name is None or name == "none":
        return nn.Identity()
    if name not in ATTN_TYPES:
        raise ValueError(f"attn must be one of {sorted(ATTN_TYPES)} or None, got {name!r}")
    return ATTN_TYPES[name](chs)
