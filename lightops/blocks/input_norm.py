"""The input normalisations a DSSDN can start with, by name (``DSSDNCfg.input_norm``)."""
from typing import Callable, Dict, Optional

import torch.nn as nn

from .clip_norm import ClipNorm
from .resnorm import ResNorm

__all__ = ["INPUT_NORMS", "create_input_norm"]

# name -> the module it builds
INPUT_NORMS: Dict[str, Callable[[], nn.Module]] = {
    "resnorm": lambda: ResNorm(0.1),  # frequency-wise, residual 0.1 (Kim et al.)
    "instance": lambda: ResNorm(0.0),  # frequency-wise instance norm
    "clip": lambda: ClipNorm(0.1),  # per-clip level and contrast, residual 0.1
}


def create_input_norm(kind: Optional[str]) -> nn.Module:
    """``None`` -> ``nn.Identity()``; ``"resnorm"`` -> ``ResNorm(0.1)``; ``"instance"`` -> ``ResNorm(0.0)``;
    ``"clip"`` -> ``ClipNorm(0.1)``."""
    if kind is None:
        return nn.Identity()
    if kind not in INPUT_NORMS:
        raise ValueError(f"input_norm must be None or one of {sorted(INPUT_NORMS)}, got {kind!r}")
    return INPUT_NORMS[kind]()
