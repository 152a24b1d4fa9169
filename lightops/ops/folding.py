"""Norm folding: the primitives an operator's :meth:`~lightops.ops.SeparableOpBase.fold_norm` is written with.

Each operator carries its own folding rule as a method, so one registration (the operator registry) is enough for a
user's operator: :func:`lightops.deploy.fuse` walks the model and calls ``fold_norm()`` where an operator's
``norm`` is a BatchNorm. The folding is computed in float64 and cast back, adding at most one rounding.
"""
import copy
from typing import Callable, Tuple, TypeVar

import torch
import torch.nn as nn

__all__ = ["build_like", "bn_affine", "fold_conv_bn", "fold_norm_into"]

M = TypeVar("M", bound=nn.Module)


def build_like(factory: Callable[[], M], like: torch.Tensor) -> M:
    """``factory()`` built on the meta device, then given uninitialised storage like ``like``.

    Replacement modules get their weights copied in, so nothing is initialised and the global RNG is untouched.
    """
    with torch.device("meta"):
        module = factory()
    return module.to_empty(device=like.device).to(like.dtype)


def bn_affine(bn: nn.modules.batchnorm._BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` of an eval-mode BatchNorm, in float64: ``y = x * scale + shift``."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"fold_bn: {type(bn).__name__} has no running statistics (track_running_stats=False); "
                         f"it cannot be folded")
    # detached: the folded weights and buffers must carry no autograd history (deepcopy refuses such tensors)
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.detach().double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


def fold_conv_bn(conv: M, bn: nn.modules.batchnorm._BatchNorm) -> M:
    """A copy of ``conv`` with the eval-mode ``bn`` that follows it folded into its weight and bias.

    Like ``torch.nn.utils.fusion.fuse_conv_bn_eval``, but computed in float64 and cast back, so that the
    fold adds no more than one float32 rounding. Works for any groups (depthwise included).

    Args:
        conv: ``nn.Conv1d`` or ``nn.Conv2d``.
        bn: the ``BatchNorm1d``/``BatchNorm2d`` applied to ``conv``'s output.

    Returns:
        A new convolution of the same class, with a bias.
    """
    if conv.out_channels != bn.num_features:
        raise ValueError(f"fold_bn: {type(conv).__name__} has {conv.out_channels} output channels but "
                         f"{type(bn).__name__} normalises {bn.num_features}")
    scale, shift = bn_affine(bn)
    folded = copy.deepcopy(conv)
    w = conv.weight.detach()
    shape = (-1,) + (1,) * (w.dim() - 1)
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
    with torch.no_grad():
        folded.weight = nn.Parameter((w.double() * scale.reshape(shape)).to(w.dtype))
        folded.bias = nn.Parameter((bias * scale + shift).to(w.dtype))
    return folded


def fold_norm_into(op: nn.Module, parent: nn.Module, name: str) -> nn.Module:
    """Fold ``op.norm`` into the convolution ``parent.<name>`` (in place) and set ``op.norm`` to identity.

    Returns:
        ``op``.
    """
    setattr(parent, name, fold_conv_bn(getattr(parent, name), op.norm))
    op.norm = nn.Identity()
    return op
