"""Inference rewrites: an eval-mode copy of a model with the same outputs and fewer, plainer layers.

Every rewrite lives here, behind one switch of :func:`fuse`, so that deployment, export, quantization and
latency work all start from the same graph. The rewrites, in the order they run:

``bake_parametrizations``
    Parametrized weights (OSC's exact mode: ``torch.nn.utils.parametrizations.orthogonal``) are evaluated once
    and stored as plain tensors; :class:`~lightops.ops.OrthoPointwise` becomes a plain 1x1 ``nn.Conv2d``.
``drop_dropout``
    ``nn.Dropout*``, timm's ``DropPath`` and ``DropBlock2d`` become ``nn.Identity`` (they already are in eval
    mode; removing them keeps exporters and counters from seeing them).
``fold_bn``
    A BatchNorm that directly follows a convolution (no nonlinearity in between) is folded into it:
    ``W' = W * g / sqrt(v + eps)``, ``b' = (b - m) * g / sqrt(v + eps) + beta`` (computed in float64). The
    pairs are: consecutive ``(ConvNd, BatchNormNd)`` children of any ``nn.Sequential`` (stems,
    ``PointwiseNormAct``), and an operator's output ``norm`` into its last convolution by the operator's own
    ``fuse_norm()`` (:meth:`lightops.ops.SeparableOpBase.fuse_norm`; SPC overrides it). SPC without projection
    ends with a concatenation: the norm's first ``Cp`` channels fold into the inner SC and the passed-through channels
    keep a per-channel affine (:class:`FusedPartialConv2d`), which neither counter counts, like the norm.
``merge_pointwise``
    OSC's two 1x1 factors ``Cin -> m -> Cout`` become one ``Cin -> Cout`` 1x1 (the operator becomes an SC).
    This changes the MACs from ``m (Cin + Cout) F T`` to ``Cin Cout F T``; ``"auto"`` merges only where the
    measured rule :func:`pointwise_merge_pays` says the saved call outweighs the extra MACs.
``merge_depthwise``
    The depthwise ``3x1`` then ``1x3`` pair (no nonlinearity between) becomes one depthwise ``3x3`` with the
    outer-product kernel ``K[a, b] = k_f[a] k_t[b]``, stride ``(s_f, s_t)``, dilation and padding
    ``(d_f, d_t)``: exact, zero padding included, the bias (and a folded norm) on the one convolution. MACs per
    output bin go from 6 (at stride 1) to 9, yet on CPU the single call was faster at every shape measured
    (docs/deploy.md), so ``"auto"`` merges every pair.
``time_pool``
    DSSDB's ``AvgPool2d((1, 2), ceil_mode=True)`` over time becomes :class:`TimeAvgPool2` (two strided views and
    an add, the same values): PyTorch's NCHW average-pooling kernel is many times slower. Off for ONNX export.
``deploy_blocks``
    Every DSSDB becomes a :class:`~lightops.deploy.graph.DeployDSSDB`: the same function as a short chain of
    convolutions (operators as ``1x1 -> depthwise [-> 1x1]`` over all channels, SPC included; ECA as a 1x1
    convolution on the global average) and timm's classifier head drops its inference no-ops; see
    :mod:`lightops.deploy.graph`. ``nn.Identity`` children left in an ``nn.Sequential`` by folding are removed:
    no ``state_dict`` key moves, but a position after a removed identity shifts by one (``seq[i]``).
``bias_buffers``
    Biases (created by folding, and the classifier's) are registered as buffers instead of parameters. The
    DCASE convention (docs/ops.md) and ``FlopCounterMode`` count no bias adds, while torchinfo counts
    ``Cout * F' * T'`` mult-adds for a parameter named ``bias``; as buffers, both counters agree on the fused
    model. ``state_dict`` keys are unchanged; :func:`inference_params` counts weights and biases together.
``channels_last``
    Weights (and so activations) in ``torch.channels_last``; off by default (measured in docs/deploy.md).

The result keeps the module tree and the ``macs(input_size)`` formulas of the original (replacement modules
carry their own), so ``model.macs`` still equals what the counters measure on the fused model.
"""
from __future__ import annotations

import copy
import warnings
from typing import Callable, Dict, Iterator, Optional, Tuple, Type, Union

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from timm.layers import DropBlock2d, DropPath

from ..ops import (
    DepthwiseConv3x3,
    DepthwisePair,
    FusedPartialConv2d,
    OrthoPointwise,
    OrthoSeparableConv2d,
    SeparableConv2d,
)
from ..ops.fusion import bn_affine, build_like, fold_conv_bn
from .graph import _pair, align_widths
from .graph import deploy_blocks as to_deploy_blocks

__all__ = [
    "fuse", "fold_conv_bn", "bn_affine", "merge_depthwise_pair", "merge_osc_pointwise", "bake_parametrized",
    "pointwise_merge_pays", "register_norm_fold", "inference_params", "DepthwiseConv3x3", "FusedPartialConv2d",
    "TimeAvgPool2",
    "POINTWISE_MERGE_MAX_EXTRA_MACS",
]

MergeMode = Union[bool, str]

_CONV = (nn.Conv1d, nn.Conv2d)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
            DropPath, DropBlock2d)

# Measured on the reference CPU (1 thread, batch 1, docs/deploy.md): one extra 1x1 call costs about as much as
# 4e5 extra multiply-accumulates, so merging OSC's two factors pays below that many extra MACs per forward pass.
POINTWISE_MERGE_MAX_EXTRA_MACS = 400_000


# ---- building blocks --------------------------------------------------------------------------------------------

def merge_depthwise_pair(pair: DepthwisePair) -> DepthwiseConv3x3:
    """The single depthwise convolution equal to ``pair`` (:meth:`~lightops.ops.DepthwisePair.inference_form`)."""
    return pair.inference_form()


def bake_parametrized(model: nn.Module) -> nn.Module:
    """Evaluate every parametrization once and store the result as a plain parameter, in place.

    :class:`~lightops.ops.OrthoPointwise` modules are then replaced by plain 1x1 ``nn.Conv2d`` (same weight).

    Returns:
        ``model`` (a new ``nn.Conv2d`` when ``model`` itself is an ``OrthoPointwise``).
    """
    for m in list(model.modules()):
        if parametrize.is_parametrized(m):
            # A deep copy shares the injected ``Parametrized<Cls>`` class with its original, and
            # remove_parametrizations deletes the property from that class: give this module its own first.
            cls = type(m)
            m.__class__ = type(cls.__name__, cls.__bases__,
                               {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")})
            for name in list(m.parametrizations):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    def plain(m: nn.Module) -> Optional[nn.Module]:
        if not isinstance(m, OrthoPointwise):
            return None
        w = m.weight.detach()
        conv = build_like(lambda: nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False), w)
        with torch.no_grad():
            conv.weight.copy_(w[:, :, None, None])
        return conv.train(m.training)

    return _rewrite(model, plain)


def merge_osc_pointwise(op: OrthoSeparableConv2d) -> SeparableConv2d:
    """An SC equal to ``op``: the 1x1 factors ``Cin -> m -> Cout`` multiplied into one ``Cin -> Cout`` 1x1.

    The depthwise convolutions, norm and activation are moved over unchanged.
    """
    w_reduce = op.ortho_weight().detach().double()  # (m, Cin), also under a parametrization
    w_expand = op.expand.weight.detach().double()[:, :, 0, 0]  # (Cout, m)
    ref = op.expand.weight
    sc = build_like(lambda: SeparableConv2d(op.in_chs, op.out_chs, stride=op.stride, dilation=op.dilation), ref)
    with torch.no_grad():
        sc.pw.weight.copy_((w_expand @ w_reduce).to(ref.dtype)[:, :, None, None])
    sc.dw, sc.norm, sc.act = op.dw, op.norm, op.act
    sc.op_label = op.op_label
    return sc.train(op.training)


def pointwise_merge_pays(op: OrthoSeparableConv2d, input_size: Tuple[int, int, int],
                         max_extra_macs: int = POINTWISE_MERGE_MAX_EXTRA_MACS) -> bool:
    """Whether merging ``op``'s 1x1 factors is expected to be faster on an input ``(C, F, T)``.

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
    return (isinstance(m, nn.AvgPool2d) and _pair(m.kernel_size) == pair
            and _pair(m.stride) == pair and _pair(m.padding) == (0, 0) and m.ceil_mode
            and m.divisor_override is None)


# ---- norm folding: each operator's own fuse_norm(); the old per-class registry still works -------------------

NormFold = Callable[[nn.Module], nn.Module]
_LEGACY_NORM_FOLDS: Dict[Type[nn.Module], NormFold] = {}


def register_norm_fold(cls: Type[nn.Module]) -> Callable[[NormFold], NormFold]:
    """Deprecated: give the operator class a ``fuse_norm(self) -> nn.Module`` method instead.

    Registers how to fold ``cls``'s output norm (``op.norm``) into its last convolution; such a rule wins over the
    class's ``fuse_norm``.
    """
    warnings.warn("register_norm_fold is deprecated: give the operator a fuse_norm() method (see "
                  "lightops.ops.SeparableOpBase.fuse_norm)", DeprecationWarning, stacklevel=2)

    def decorator(fn: NormFold) -> NormFold:
        _LEGACY_NORM_FOLDS[cls] = fn
        return fn

    return decorator


def _fold_op_norm(m: nn.Module) -> Optional[nn.Module]:
    """``m.fuse_norm()`` for a module whose ``norm`` is a BatchNorm (None: nothing to do)."""
    if not isinstance(getattr(m, "norm", None), _BN):
        return None
    for cls in type(m).__mro__:
        if cls in _LEGACY_NORM_FOLDS:
            return _LEGACY_NORM_FOLDS[cls](m)
    fuse_norm = getattr(m, "fuse_norm", None)
    if not callable(fuse_norm):
        return None
    try:
        return fuse_norm()
    except NotImplementedError:  # an operator without a fusion rule keeps its norm (fuse warns about it)
        return None


# ---- tree walking -------------------------------------------------------------------------------------------------

def _children(model: nn.Module) -> Iterator[Tuple[nn.Module, str, nn.Module]]:
    """Every ``(parent, attribute name, child)`` in the tree, parents before children."""
    for parent in model.modules():
        for name, child in parent.named_children():
            yield parent, name, child


def _rewrite(root: nn.Module, fn: Callable[[nn.Module], Optional[nn.Module]]) -> nn.Module:
    """Replace every module ``m`` of the tree (the root last) by ``fn(m)`` when that is not None; the new root."""
    for parent, name, child in list(_children(root)):
        new = fn(child)
        if new is not None and new is not child:
            setattr(parent, name, new)
    new = fn(root)
    return root if new is None else new


def _fold_sequentials(model: nn.Module) -> int:
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        items = list(seq.named_children())
        for (name_a, a), (name_b, b) in zip(items, items[1:]):
            if isinstance(a, _CONV) and isinstance(b, _BN) and a.out_channels == b.num_features \
                    and b.running_mean is not None:
                setattr(seq, name_a, fold_conv_bn(a, b))
                setattr(seq, name_b, nn.Identity())
                folded += 1
    return folded


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


def _op_input_sizes(model: nn.Module, input_size: Tuple[int, ...]) -> Dict[int, Tuple[int, int, int]]:
    """``id(op) -> (C, F, T)`` seen by every OSC during one batch-1 forward pass on ``input_size``."""
    sizes: Dict[int, Tuple[int, int, int]] = {}

    def record(mod: nn.Module, args: Tuple[torch.Tensor, ...]) -> None:
        sizes.setdefault(id(mod), tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, OrthoSeparableConv2d)]
    try:
        ref = next(model.parameters())
        with torch.no_grad(), parametrize.cached():
            model(torch.zeros(1, *input_size, device=ref.device, dtype=ref.dtype))
    finally:
        for h in hooks:
            h.remove()
    return sizes


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
         input_size: Optional[Tuple[int, int, int]] = None) -> nn.Module:
    """An inference copy of ``model`` (eval mode) with the same outputs, rewritten for speed; ``model`` is untouched.

    See the module docstring for what each rewrite does and docs/deploy.md for its measured effect.

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
        deploy_blocks: rewrite every DSSDB into its deployment form (:mod:`lightops.deploy.graph`) and drop the
            ``nn.Identity`` left in sequentials (needs ``fold_bn`` and ``merge_depthwise`` for the operators).
        channel_align: with ``deploy_blocks``, pad DSSDB's distilled taps, and a DSSDN's stem and block outputs,
            to a multiple of this many channels (always-zero channels, zero weights for them: the same logits;
            :func:`~lightops.deploy.graph.align_widths`). 16 suits ONNX Runtime's NCHWc layout and is what
            :func:`~lightops.deploy.export_onnx` uses; 1 (default) keeps the widths. Padded features show in
            ``forward_features`` and ``pre_logits`` as extra zero channels.
        bias_buffers: register biases as buffers, so that torchinfo and FlopCounterMode count the same MACs.
        channels_last: convert the weights to ``torch.channels_last``.
        input_size: ``(C, F, T)`` the model will mostly see, for ``merge_pointwise="auto"`` (default: the
            model's ``pretrained_cfg["input_size"]``).

    Returns:
        The rewritten copy, in eval mode.
    """
    _check_mode(merge_depthwise, "merge_depthwise")
    _check_mode(merge_pointwise, "merge_pointwise")
    _check_mode(time_pool, "time_pool")
    if isinstance(channel_align, bool) or not isinstance(channel_align, int) or channel_align < 1:
        raise ValueError(f"fuse: channel_align must be a positive int, got {channel_align!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"fuse: expected an nn.Module, got {type(model).__name__}")
    net = copy.deepcopy(model).eval()
    if bake_parametrizations:
        net = bake_parametrized(net)
    if drop_dropout:
        net = _rewrite(net, lambda m: nn.Identity() if isinstance(m, _DROPOUT) else None)
    if fold_bn:
        _fold_sequentials(net)
        net = _rewrite(net, _fold_op_norm)
        left = sorted({type(m).__name__ for m in net.modules() if isinstance(m, _BN)})
        if left:
            warnings.warn(f"fuse: some BatchNorms follow no foldable convolution and were kept ({', '.join(left)}); "
                          f"give the operator a fuse_norm() method", stacklevel=2)
    if merge_pointwise:
        sizes: Dict[int, Tuple[int, int, int]] = {}
        if merge_pointwise == "auto":
            size = input_size or tuple(getattr(net, "pretrained_cfg", {}).get("input_size", ()))
            if len(size) != 3:
                raise ValueError("fuse: merge_pointwise='auto' needs input_size=(C, F, T) for this model")
            sizes = _op_input_sizes(net, tuple(size))

        def merge_pw(m: nn.Module) -> Optional[nn.Module]:
            if isinstance(m, OrthoSeparableConv2d) and (
                    merge_pointwise is True or (id(m) in sizes and pointwise_merge_pays(m, sizes[id(m)]))):
                return merge_osc_pointwise(m)
            return None

        net = _rewrite(net, merge_pw)
    if merge_depthwise:
        net = _rewrite(net, lambda m: merge_depthwise_pair(m) if isinstance(m, DepthwisePair) else None)
    if time_pool is True or (time_pool == "auto" and not channels_last):
        net = _rewrite(net, lambda m: TimeAvgPool2() if _is_time_pool2(m) else None)
    if deploy_blocks:
        _drop_identities(net)
        net = to_deploy_blocks(net, channel_align)
        if channel_align > 1:
            align_widths(net, channel_align)
    if bias_buffers:
        _bias_to_buffer(net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.eval()
