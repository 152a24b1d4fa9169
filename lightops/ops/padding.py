"""Channel padding: a layer's convolutions widened with always-zero channels, the same outputs.

ONNX Runtime runs pooling and concatenation in its blocked NCHWc layout only for channel counts that fill whole
blocks (16 floats on AVX-512); :func:`lightops.deploy.align.align_channels` pads a deployed model's widths with
these helpers, and each layer's padding methods (:class:`~lightops.blocks.DeployDSSDB`, the stems) use them for
their own convolutions. A padded channel is 0: zero weights and bias, followed only by activations with
``act(0) = 0``; the convolutions reading it get zero weights for it.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from .folding import build_like

__all__ = ["pad_out", "pad_in", "widen_inputs", "pad_chain_out", "zero_at_zero"]


def zero_at_zero(act: nn.Module) -> bool:
    """Whether ``act(0) == 0`` (ReLU, GELU, SiLU, identity: padded channels stay 0); False for a module that is
    not elementwise (a norm, a pooling: it cannot run on one value)."""
    try:
        with torch.no_grad():
            return bool(act(torch.zeros(1)).eq(0).all())
    except (RuntimeError, ValueError, TypeError):
        return False


def pad_out(conv: nn.Conv2d, width: int, depthwise: bool = False) -> nn.Conv2d:
    """``conv`` with ``width`` output channels, the extra ones with zero weights and bias (``depthwise``: its
    input channels and groups grow with them)."""
    n = conv.out_channels
    cin, groups = (width, width) if depthwise else (conv.in_channels, conv.groups)
    new = build_like(lambda: nn.Conv2d(cin, width, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                                       dilation=conv.dilation, groups=groups, bias=conv.bias is not None),
                     conv.weight)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:n] = conv.weight
        if new.bias is not None:
            new.bias.zero_()
            new.bias[:n] = conv.bias
    return new


def widen_inputs(layer: nn.Module, groups: Sequence[Tuple[int, int]]) -> nn.Module:
    """A plain (``groups=1``) convolution or linear layer whose input channels are spread out: ``groups`` lists
    ``(real, padded)`` channel counts in input order; the ``padded - real`` channels after each group get zero
    weights (their input is always 0). Same outputs on the padded input."""
    total = sum(cp for _, cp in groups)
    if isinstance(layer, nn.Linear):
        new = build_like(lambda: nn.Linear(total, layer.out_features, bias=layer.bias is not None), layer.weight)
    else:
        new = build_like(lambda: nn.Conv2d(total, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                           padding=layer.padding, dilation=layer.dilation,
                                           bias=layer.bias is not None), layer.weight)
    with torch.no_grad():
        new.weight.zero_()
        src = dst = 0
        for c, cp in groups:
            new.weight[:, dst: dst + c] = layer.weight[:, src: src + c]
            src, dst = src + c, dst + cp
        if new.bias is not None:
            new.bias.copy_(layer.bias)
    return new


def pad_in(conv: nn.Conv2d, width: int) -> nn.Conv2d:
    """A plain (``groups=1``) ``conv`` reading ``width`` input channels, zero weights for the ones it did not have."""
    return widen_inputs(conv, [(conv.in_channels, width)])


def pad_chain_out(chain: nn.Sequential, width: int) -> nn.Sequential:
    """A conv chain whose output has ``width`` channels, the extra ones 0 before the activation: the last
    convolution padded, and the ones before it while they are depthwise."""
    layers: List[nn.Module] = list(chain)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    for j, i in enumerate(reversed(convs)):
        conv = layers[i]
        depthwise = conv.groups == conv.in_channels == conv.out_channels and j + 1 < len(convs)
        layers[i] = pad_out(conv, width, depthwise)
        if not depthwise:
            break
    return type(chain)(*layers)
