"""Conv chains: the inference form of an operator, a plain sequence of convolutions whose MACs it counts itself.

:class:`ConvChain` is what SC, OSC and SPC return from ``inference_form()`` (``1x1 -> depthwise kxk [-> 1x1]
[-> activation]``); :func:`chain_macs` counts the convolutions of any module in order, and :func:`pool_into_conv`
merges an average pooling into the 1x1 convolution after it.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn

from .folding import build_like

__all__ = ["ConvChain", "conv_macs", "chain_macs", "pool_into_conv", "merge_pools", "as_pair"]


def as_pair(v: Union[int, Tuple[int, ...]]) -> Tuple[int, ...]:
    """A pooling or convolution argument (one int or one per axis) as a tuple ``(f, t)``."""
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_macs(conv: nn.Conv2d, f: int, t: int) -> Tuple[int, int, int]:
    """MACs of ``conv`` on an ``F x T`` input at batch 1, and its output ``(F', T')``.

    ``Cout * (Cin / groups) * kf * kt * F' * T'`` with ``F' = (F + 2 p - d (k - 1) - 1) // s + 1`` per axis.
    """
    fo = (f + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1) // conv.stride[0] + 1
    to = (t + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1) // conv.stride[1] + 1
    per_out = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    return conv.out_channels * per_out * fo * to, fo, to


def chain_macs(chain: nn.Module, f: int, t: int) -> Tuple[int, int, int]:
    """MACs of the convolutions of ``chain`` (in order) on an ``F x T`` input, and the output ``(F', T')``."""
    macs = 0
    for m in chain.modules():
        if isinstance(m, nn.Conv2d):
            n, f, t = conv_macs(m, f, t)
            macs += n
    return macs, f, t


class ConvChain(nn.Sequential):
    """An operator in inference form: its convolutions (and activation) in order, nothing else.

    Shape: ``(B, Cin, F, T) -> (B, Cout, F', T')`` as the operator it was built from.
    MACs: the sum of its convolutions' (:func:`conv_macs`).
    """

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs of its convolutions on an input ``(C, F, T)`` at batch 1."""
        return chain_macs(self, input_size[1], input_size[2])[0]


def pool_into_conv(pool: nn.Module, conv: nn.Module, size: Optional[Tuple[int, int]] = None
                   ) -> Optional[nn.Conv2d]:
    """``AvgPool2d(k, stride k)`` followed by a 1x1 convolution as one ``k x k`` convolution with stride ``k`` and
    weights ``W / k^2``: the same windows, one node instead of two. A ``ceil_mode`` pool qualifies only for an input
    ``size`` ``(F, T)`` it divides (no partial window). None if not such a pair.
    """
    if not (isinstance(pool, nn.AvgPool2d) and isinstance(conv, nn.Conv2d)):
        return None
    k, stride = as_pair(pool.kernel_size), as_pair(pool.stride or pool.kernel_size)
    whole = size is not None and size[0] % k[0] == 0 and size[1] % k[1] == 0
    if (k != stride or as_pair(pool.padding) != (0, 0) or (pool.ceil_mode and not whole)
            or pool.divisor_override is not None
            or conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.groups != 1 or conv.padding != (0, 0)):
        return None
    new = build_like(lambda: nn.Conv2d(conv.in_channels, conv.out_channels, k, stride=k, bias=conv.bias is not None),
                     conv.weight)
    with torch.no_grad():
        new.weight.copy_(conv.weight.expand(-1, -1, *k) / (k[0] * k[1]))
        if new.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def merge_pools(model: nn.Module, size: Optional[Tuple[int, int]] = None) -> None:
    """:func:`pool_into_conv` on every adjacent (pool, 1x1 conv) pair of every ``nn.Sequential``, in place
    (``size``: the input ``(F, T)`` of every such pair, when known)."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        items = list(seq.named_children())
        for (name_a, a), (name_b, b) in zip(items, items[1:]):
            merged = pool_into_conv(a, b, size)
            if merged is not None and name_a in seq._modules:
                del seq._modules[name_a]
                setattr(seq, name_b, merged)
