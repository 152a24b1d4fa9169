"""The receptive field along frequency of a model's layers, measured by the input gradient.

Any model (a DSSDN, the DCASE baselines, a timm network): the span of input mel bins that the centre bin of a
layer's output has a non-zero gradient for. Written here rather than taken from a library: the receptive-field
tools of the field compute it from kernel sizes and strides of a sequential stack, which a block with parallel
paths, splits and concatenations (DSSDB) is not; the gradient needs no such model of the network.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn

from ..validation import check_input_size

__all__ = ["frequency_receptive_fields"]


def frequency_receptive_fields(model: nn.Module, input_size: Sequence[int] = (1, 1024, 16),
                               layers: Optional[Sequence[str]] = None, seed: int = 0) -> Dict[str, int]:
    """Mel bins seen by the centre frequency bin of each layer's output (its receptive field along frequency).

    Channel attention that gates by a global mean (squeeze-excitation, ECA) and clip-level input norms make every
    output depend on every bin; switch them off (for a DSSDN: ``attn="none", input_norm="none"``) to measure the
    convolutions' field, as receptive-field analyses do. The input should be large enough that the fields fit (the
    default 1024 bins; a field that reaches an edge is cut there).

    Args:
        model: any module taking ``(B, C, F, T)``; run in eval mode, its mode restored afterwards.
        input_size: ``(C, F, T)`` of the input.
        layers: names of submodules (``model.named_modules()``) whose outputs to measure; default: the model's
            direct children that output a 4-D map.
        seed: seed of the random input.

    Returns:
        ``{layer name: span in input bins}``, in the order the layers ran.

    Raises:
        ValueError: a bad ``input_size`` or an unknown layer name.
    """
    c, f, t = check_input_size(tuple(input_size), "frequency_receptive_fields")
    modules = dict(model.named_modules())
    names = list(layers) if layers is not None else [n for n, _ in model.named_children()]
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise ValueError(f"frequency_receptive_fields: unknown layers {unknown}; the model has "
                         f"{[n for n in modules if n][:20]}...")
    outputs: Dict[str, torch.Tensor] = {}
    hooks = [modules[n].register_forward_hook(lambda mod, args, out, n=n: outputs.setdefault(n, out))
             for n in names]
    was_training = model.training
    gen = torch.Generator().manual_seed(seed)
    param = next(model.parameters(), None)
    x = torch.randn(1, c, f, t, generator=gen, dtype=param.dtype if param is not None else torch.float32)
    x.requires_grad_(True)
    try:
        model.eval()
        with torch.enable_grad():
            model(x)
            fields = {}
            for name, out in outputs.items():
                if not isinstance(out, torch.Tensor) or out.dim() != 4 or not out.requires_grad:
                    continue
                grad, = torch.autograd.grad(out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum(), x,
                                            retain_graph=True)
                bins = (grad[0].abs().sum(dim=(0, 2)) > 0).nonzero().flatten()
                fields[name] = int(bins.max() - bins.min() + 1) if bins.numel() else 0
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return fields
