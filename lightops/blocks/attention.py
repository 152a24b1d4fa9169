"""Channel attention for DSSDB: ECA (Wang et al., CVPR 2020) and contrast-aware CCA (Hui et al., IMDN 2019)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn
from timm.layers import EcaModule

__all__ = ["ECA", "CCA", "create_attn", "ATTN_TYPES"]


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
