"""A frozen TorchScript module: the fastest eager-PyTorch form of a fused model.

``torch.jit.freeze`` inlines the module tree (no ``nn.Identity`` or container calls are left), folds the weights in
as constants and runs TorchScript's graph optimisations; on DSSDN's many small convolutions the per-call overhead
it removes is most of the time of a 1-s clip (``benchmarks/bench_models.py`` measures it against the fused model).
"""
from typing import Any, Dict, Optional

import torch
import torch.nn as nn

from .fuse import fuse

__all__ = ["freeze"]


def freeze(model: nn.Module, *, fused: bool = True, fuse_kwargs: Optional[Dict[str, Any]] = None
           ) -> torch.jit.ScriptModule:
    """``torch.jit.freeze(torch.jit.script(fuse(model)))`` in eval mode; ``model`` is untouched.

    Args:
        model: a lightops model (or any scriptable module).
        fused: apply :func:`lightops.deploy.fuse` first.
        fuse_kwargs: its options (``time_pool`` is turned off: its branch on the length does not script well).

    Raises:
        RuntimeError: the module does not script (the message of ``torch.jit.script``).
    """
    net = fuse(model, **{"time_pool": False, **(fuse_kwargs or {})}) if fused else model
    try:
        scripted = torch.jit.script(net.eval())
    except Exception as e:  # TorchScript's frontend raises several error types
        raise RuntimeError(f"freeze: {type(net).__name__} does not script with torch.jit.script: {e}") from e
    return torch.jit.freeze(scripted)
