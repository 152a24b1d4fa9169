"""Inference rewrites: an eval-mode copy of a model with the same outputs and fewer, plainer layers.

:func:`fuse` is the one entry point, so that deployment, export, quantization and latency work all start from the
same graph. Every layer-specific rewrite lives on the layer: an operator folds its norm (``fold_norm()``), and every
layer with an inference form returns it from ``inference_form()`` (the one protocol; docs/deploy.md). This module
knows no layer by name beyond the three switches that are about one layer. The rewrites, in the order they run:

``bake_parametrizations``
    Parametrized weights (OSC's exact mode: ``torch.nn.utils.parametrizations.orthogonal``) are evaluated once
    and stored as plain tensors; :class:`~lightops.ops.OrthoPointwise` becomes a plain 1x1 ``nn.Conv2d`` (its
    ``inference_form()``).
``drop_dropout``
    ``nn.Dropout*``, timm's ``DropPath`` and ``DropBlock2d`` become ``nn.Identity`` (they already are in eval
    mode; removing them keeps exporters and counters from seeing them).
``fold_bn``
    A BatchNorm that directly follows a convolution (no nonlinearity in between) is folded into it:
    ``W' = W * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta`` (computed in float64). The
    pairs are: consecutive ``(ConvNd, BatchNormNd)`` children of any ``nn.Sequential`` (stems,
    ``PointwiseNormAct``), and an operator's output ``norm`` into its last convolution by the operator's own
    ``fold_norm()`` (:meth:`lightops.ops.SeparableOpBase.fold_norm`; SPC overrides it). SPC without projection
    ends with a concatenation: the norm's first ``Cp`` channels fold into the inner SC and the passed-through channels
    keep a per-channel affine (:class:`~lightops.ops.FoldedPartialConv2d`), which neither counter counts, like the norm.
``merge_pointwise``
    A layer with a ``merge_pointwise()`` method (OSC: two 1x1 factors ``Cin -> m -> Cout``) becomes the module it
    returns (an SC with one ``Cin -> Cout`` 1x1). This changes the MACs from ``m (Cin + Cout) F T`` to
    ``Cin Cout F T``; ``"auto"`` merges only where the measured rule :func:`pointwise_merge_pays` says the saved call
    outweighs the extra MACs.
``merge_depthwise``
    The depthwise ``3x1`` then ``1x3`` pair becomes one depthwise ``3x3`` with the outer-product kernel
    (:meth:`~lightops.ops.DepthwisePair.inference_form`): exact, zero padding included. MACs per output bin go from
    6 (at stride 1) to 9, yet on CPU the single call was faster at every shape measured (docs/deploy.md), so
    ``"auto"`` merges every pair.
``time_pool``
    DSSDB's ``AvgPool2d((1, 2), ceil_mode=True)`` over time becomes :class:`TimeAvgPool2` (two strided views and
    an add, the same values): PyTorch's NCHW average-pooling kernel is many times slower. Off for ONNX export.
``deploy_blocks``
    Every other layer becomes its ``inference_form()``, children first (:func:`to_inference_form`): operators as conv
    chains over all channels (SPC included), ECA as a 1x1 gate, DSSDB as :class:`~lightops.blocks.DeployDSSDB`,
    DSSDN with a plain head. ``spc`` picks SPC's form: ``"full"`` (the block-diagonal full-width 1x1, default),
    ``"grouped"`` (:meth:`~lightops.ops.SeparablePartialConv2d.as_grouped`, a quarter of that 1x1's MACs) or
    ``"partial"`` (the split, the partial SC and the concatenation kept); docs/deploy.md times all three.
    ``nn.Identity`` children left in an ``nn.Sequential`` by folding are removed first:
    no ``state_dict`` key moves, but a position after a removed identity shifts by one (``seq[i]``). With
    ``channel_align``, :func:`lightops.deploy.align.align_channels` pads the widths afterwards.
``bias_buffers``
    Biases (created by folding, and the classifier's) are registered as buffers instead of parameters. The
    DCASE convention (docs/ops.md) and ``FlopCounterMode`` count no bias adds, while torchinfo counts
    ``Cout * F' * T'`` mult-adds for a parameter named ``bias``; as buffers, both counters agree on the fused
    model. ``state_dict`` keys are unchanged; :func:`inference_params` counts weights and biases together.
``channels_last``
    Weights (and so activations) in ``torch.channels_last``; off by default (measured in docs/deploy.md).

The result keeps the ``macs(input_size)`` formulas of the original (inference forms carry their own), so
``model.macs`` still equals what the counters measure on the fused model.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from timm.layers import DropBlock2d, DropPath

from ..ops import DepthwisePair, OrthoPointwise, SeparablePartialConv2d
from ..ops.conv_chain import as_pair
from ..ops.folding import fold_conv_bn
from ..validation import check_int
from .align import align_channels

__all__ = ["fuse", "to_inference_form", "bake_parametrized", "pointwise_merge_pays", "inference_params",
           "TimeAvgPool2", "POINTWISE_MERGE_MAX_EXTRA_MACS"]

MergeMode = Union[bool, str]
SPC_FORMS = ("full", "grouped", "partial")  # fuse(spc=...): the inference forms of SPC

_CONV = (nn.Conv1d, nn.Conv2d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
            DropPath, DropBlock2d)

# Measured on the reference CPU (1 thread, batch 1, docs/deploy.md): one extra 1x1 call costs about as much as
# 4e5 extra multiply-accumulates, so merging OSC's two factors pays below that many extra MACs per forward pass.
POINTWISE_MERGE_MAX_EXTRA_MACS = 400_000


# ---- the generic walk ---------------------------------------------------------------------------------------------

def to_inference_form(module: nn.Module, keep: Callable[[nn.Module], bool] = lambda m: False) -> nn.Module:
    """``module`` with every layer replaced by its ``inference_form()``, children first, in place; the new root.

    Like ``timm.utils.model.reparameterize_model``, it knows no layer by name: a layer with an ``inference_form()``
    method builds its own form from its children, which are already in theirs. ``keep(m)`` leaves ``m`` as it is
    (its children are still walked).
    """
    for name, child in list(module.named_children()):
        new = to_inference_form(child, keep)
        if new is not child:
            setattr(module, name, new)
    form = getattr(module, "inference_form", None)
    if not callable(form) or keep(module):
        return module
    return form()


def _rewrite(root: nn.Module, fn: Callable[[nn.Module], Optional[nn.Module]]) -> nn.Module:
    """Replace every module ``m`` of the tree (parents first, the root last) by ``fn(m)`` when that is not None."""
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            new = fn(child)
            if new is not None and new is not child:
                setattr(parent, name, new)
    new = fn(root)
    return root if new is None else new


# ---- the rewrites -----------------------------------------------------------------------------------------------

def bake_parametrized(model: nn.Module) -> nn.Module:
    """Evaluate every parametrization once and store the result as a plain parameter, in place; ``model``."""
    for m in list(model.modules()):
        if parametrize.is_parametrized(m):
            # A deep copy shares the injected ``Parametrized<Cls>`` class with its original, and
            # remove_parametrizations deletes the property from that class: give this module its own first.
            cls = type(m)
            m.__class__ = type(cls.__name__, cls.__bases__,
                               {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")})
            for name in list(m.parametrizations):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    return model


def pointwise_merge_pays(op: nn.Module, input_size: Tuple[int, int, int],
                         max_extra_macs: int = POINTWISE_MERGE_MAX_EXTRA_MACS) -> bool:
    """Whether merging ``op``'s 1x1 factors ``Cin -> m -> Cout`` is expected to be faster on an input ``(C, F, T)``.

    One call fewer against ``(Cin Cout - m (Cin + Cout)) F T`` extra MACs; the threshold is measured
    (:data:`POINTWISE_MERGE_MAX_EXTRA_MACS`, docs/deploy.md).
    """
    _, f, t = input_size
    extra = (op.in_chs * op.out_chs - op.mid_chs * (op.in_chs + op.out_chs)) * f * t
    return extra <= max_extra_macs


class TimeAvgPool2(nn.Module):
    """``nn.AvgPool2d((1, 2), ceil_mode=True)`` over time as two strided views and an add: the same values.

    ``(x[..., 0::2] + x[..., 1::2]) * 0.5`` equals the pool's ``sum / 2`` bit for bit (0.5 is a power of two); for
    an odd ``T`` the last window holds one frame, whose average is the frame itself (the pool's divisor excludes
    the ceil-mode overhang). PyTorch's NCHW ``avg_pool2d`` CPU kernel is many times slower (docs/deploy.md). The
    branch on ``T``'s parity makes it unsuitable for an export with a dynamic time axis.

    Shape: ``(B, C, F, T) -> (B, C, F, ceil(T / 2))``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, ceil(T / 2))``."""
        t = x.shape[-1]
        even = x[..., : t - t % 2]
        out = (even[..., 0::2] + even[..., 1::2]).mul_(0.5)
        if t % 2:
            out = torch.cat([out, x[..., t - 1:]], dim=-1)
        return out


def _is_time_pool2(m: nn.Module) -> bool:
    """An ``nn.AvgPool2d`` averaging pairs of frames with ``ceil_mode`` (DSSDB's time pooling)."""
    pair = (1, 2)
    return (isinstance(m, nn.AvgPool2d) and as_pair(m.kernel_size) == pair
            and as_pair(m.stride) == pair and as_pair(m.padding) == (0, 0) and m.ceil_mode
            and m.divisor_override is None)


def _fold_op_norm(m: nn.Module) -> Optional[nn.Module]:
    """``m.fold_norm()`` for a module whose ``norm`` is a BatchNorm (None: nothing to do)."""
    fold_norm = getattr(m, "fold_norm", None)
    if not isinstance(getattr(m, "norm", None), _BN) or not callable(fold_norm):
        return None
    try:
        return fold_norm()
    except NotImplementedError:  # an operator without a folding rule keeps its norm (fuse warns about it)
        return None


def _fold_norms(net: nn.Module) -> nn.Module:
    """Every ``(conv, BatchNorm)`` pair of a sequential folded, then every operator's ``fold_norm()``; warns about
    the BatchNorms left."""
    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        items = list(seq.named_children())
        for (name_a, a), (name_b, b) in zip(items, items[1:]):
            if isinstance(a, _CONV) and isinstance(b, _BN) and a.out_channels == b.num_features \
                    and b.running_mean is not None:
                setattr(seq, name_a, fold_conv_bn(a, b))
                setattr(seq, name_b, nn.Identity())
    net = _rewrite(net, _fold_op_norm)
    left = sorted({type(m).__name__ for m in net.modules() if isinstance(m, _BN)})
    if left:
        warnings.warn(f"fuse: some BatchNorms follow no foldable convolution and were kept ({', '.join(left)}); "
                      f"give the operator a fold_norm() method", stacklevel=3)
    return net


def _merge_pointwise(net: nn.Module, mode: MergeMode, input_size: Optional[Tuple[int, ...]]) -> nn.Module:
    """``m.merge_pointwise()`` for every layer that has one: all of them, or (``"auto"``) where it pays."""
    sizes: Dict[int, Tuple[int, int, int]] = {}
    if mode == "auto":
        size = input_size or tuple(getattr(net, "pretrained_cfg", {}).get("input_size", ()))
        if len(size) != 3:
            raise ValueError("fuse: merge_pointwise='auto' needs input_size=(C, F, T) for this model")
        sizes = _layer_input_sizes(net, tuple(size), lambda m: callable(getattr(m, "merge_pointwise", None)))

    def merge(m: nn.Module) -> Optional[nn.Module]:
        if callable(getattr(m, "merge_pointwise", None)) and (
                mode is True or (id(m) in sizes and pointwise_merge_pays(m, sizes[id(m)]))):
            return m.merge_pointwise()
        return None

    return _rewrite(net, merge)


def _layer_input_sizes(model: nn.Module, input_size: Tuple[int, ...], which: Callable[[nn.Module], bool]
                       ) -> Dict[int, Tuple[int, int, int]]:
    """``id(m) -> (C, F, T)`` seen by every module ``which(m)`` during one batch-1 forward pass on ``input_size``."""
    sizes: Dict[int, Tuple[int, int, int]] = {}

    def record(mod: nn.Module, args: Tuple[torch.Tensor, ...]) -> None:
        sizes.setdefault(id(mod), tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if which(m)]
    try:
        ref = next(model.parameters())
        with torch.no_grad(), parametrize.cached():
            model(torch.zeros(1, *input_size, device=ref.device, dtype=ref.dtype))
    finally:
        for h in hooks:
            h.remove()
    return sizes


def _drop_identities(model: nn.Module) -> None:
    """Remove ``nn.Identity`` children of every ``nn.Sequential`` (the others keep their names, so their keys)."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for name, child in list(seq.named_children()):
            if isinstance(child, nn.Identity):
                del seq._modules[name]


def _bias_to_buffer(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) and isinstance(m.bias, nn.Parameter):
            bias = m.bias.detach()
            del m.bias
            m.register_buffer("bias", bias)


def _check_mode(value: MergeMode, name: str) -> MergeMode:
    if value not in (True, False, "auto"):
        raise ValueError(f"fuse: {name} must be True, False or 'auto', got {value!r}")
    return value


def inference_params(model: nn.Module) -> int:
    """Weights and biases of a (fused) model: parameters plus the bias buffers :func:`fuse` creates."""
    bias_buffers = sum(m.bias.numel() for m in model.modules()
                       if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) and m.bias is not None
                       and not isinstance(m.bias, nn.Parameter))
    return sum(p.numel() for p in model.parameters()) + bias_buffers


# ---- the entry point ----------------------------------------------------------------------------------------------

def fuse(model: nn.Module, *, fold_bn: bool = True, bake_parametrizations: bool = True,
         merge_depthwise: MergeMode = "auto", merge_pointwise: MergeMode = False, drop_dropout: bool = True,
         time_pool: MergeMode = "auto", deploy_blocks: bool = True, channel_align: int = 1,
         bias_buffers: bool = True, channels_last: bool = False,
         input_size: Optional[Tuple[int, int, int]] = None, spc: str = "full") -> nn.Module:
    """An inference copy of ``model`` (eval mode) with the same outputs, rewritten for speed; ``model`` is untouched.

    See the module docstring for what each rewrite does and docs/deploy.md for its measured effect. A sequence of
    switches, one per rewrite, each a few lines (hence the length).

    Args:
        model: any module (a lightops model, block or operator).
        fold_bn: fold BatchNorms into the convolutions before them.
        bake_parametrizations: store parametrized weights (OSC exact) as plain tensors and OrthoPointwise as
            a plain ``nn.Conv2d``.
        merge_depthwise: replace each depthwise ``3x1``/``1x3`` pair by one depthwise ``3x3``: True, False or
            ``"auto"`` (every pair: faster at every measured shape on CPU).
        merge_pointwise: multiply OSC's two 1x1 factors into one: True, False (default; keeps the MACs of the
            original) or ``"auto"`` (where :func:`pointwise_merge_pays` on the shapes of ``input_size``).
        drop_dropout: replace dropout and drop-path modules by ``nn.Identity``.
        time_pool: replace ``AvgPool2d((1, 2), ceil_mode=True)`` by :class:`TimeAvgPool2`: True, False or
            ``"auto"`` (when not ``channels_last``, whose pooling kernel is fast). Not for export with a dynamic
            time axis (:func:`lightops.deploy.export_onnx` turns it off).
        deploy_blocks: every layer into its ``inference_form()`` (operators as conv chains, ECA as a gate, DSSDB as
            :class:`~lightops.blocks.DeployDSSDB`, a plain head) and the ``nn.Identity`` left in sequentials
            dropped (needs ``fold_bn`` and ``merge_depthwise`` for the operators).
        channel_align: with ``deploy_blocks``, pad DSSDB's distilled taps, and a DSSDN's stem and block outputs,
            to a multiple of this many channels (always-zero channels, zero weights for them: the same logits;
            :func:`~lightops.deploy.align.align_channels`). 16 suits ONNX Runtime's NCHWc layout and is what
            :func:`~lightops.deploy.export_onnx` uses; 1 (default) keeps the widths. Padded features show in
            ``forward_features`` and ``pre_logits`` as extra zero channels.
        bias_buffers: register biases as buffers, so that torchinfo and FlopCounterMode count the same MACs.
        channels_last: convert the weights to ``torch.channels_last``.
        input_size: ``(C, F, T)`` the model will mostly see, for ``merge_pointwise="auto"`` (default: the
            model's ``pretrained_cfg["input_size"]``).
        spc: with ``deploy_blocks``, SPC's inference form: ``"full"`` (full-width 1x1, the fastest measured on CPU
            runtimes), ``"grouped"`` (a grouped 1x1 where ``Cp`` divides ``Cin``; elsewhere full width) or
            ``"partial"`` (SPC's own split and concatenation).

    Returns:
        The rewritten copy, in eval mode.
    """
    for name, value in (("merge_depthwise", merge_depthwise), ("merge_pointwise", merge_pointwise),
                        ("time_pool", time_pool)):
        _check_mode(value, name)
    check_int(channel_align, "fuse: channel_align", minimum=1)
    if spc not in SPC_FORMS:
        raise ValueError(f"fuse: spc must be one of {SPC_FORMS}, got {spc!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"fuse: expected an nn.Module, got {type(model).__name__}")
    net = copy.deepcopy(model).eval()
    if bake_parametrizations:
        net = bake_parametrized(net)
    if drop_dropout:
        net = _rewrite(net, lambda m: nn.Identity() if isinstance(m, _DROPOUT) else None)
    if fold_bn:
        net = _fold_norms(net)
    if merge_pointwise:
        net = _merge_pointwise(net, merge_pointwise, input_size)
    if time_pool is True or (time_pool == "auto" and not channels_last):
        net = _rewrite(net, lambda m: TimeAvgPool2() if _is_time_pool2(m) else None)
    if deploy_blocks:
        _drop_identities(net)
    if deploy_blocks and spc == "grouped":
        net = _rewrite(net, lambda m: m.as_grouped() if isinstance(m, SeparablePartialConv2d) and m.can_group()
                       and isinstance(m.norm, nn.Identity) else None)

    def keep(m: nn.Module) -> bool:  # the three switches about one layer each; deploy_blocks for all the others
        if isinstance(m, DepthwisePair):
            return not merge_depthwise
        if isinstance(m, OrthoPointwise):
            return not bake_parametrizations
        if isinstance(m, SeparablePartialConv2d):
            return spc == "partial" or not deploy_blocks
        return not deploy_blocks

    net = to_inference_form(net, keep)
    if deploy_blocks and channel_align > 1:
        align_channels(net, channel_align)
    if bias_buffers:
        _bias_to_buffer(net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.eval()
