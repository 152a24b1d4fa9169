"""MACs and parameters per module, by forward hooks: :func:`profile` and the :class:`Profile` it returns.

What counts (the DCASE convention, also the paper's): multiply-accumulates of convolutions and linear layers
(matrix products) in one forward pass, bias additions excluded; normalisation, activations, pooling, dropout,
identity and element-wise arithmetic cost 0. Parameters are the trainable ones, each shared tensor once.

Where the MACs of a module come from, in this order:

1. ``formula``: the module's own ``macs(input_size)`` method, called with the ``(C, F, T)`` of the input it
   received (times the batch). Operators, blocks, stems and models provide one. Its submodules are still listed
   (with their own counts, for reading) but do not add to the total a second time.
2. ``layer``: the closed forms for standard layers. ``ConvNd``: ``out.numel() * Cin / groups * prod(kernel)``;
   ``ConvTransposeNd``: ``in.numel() * Cout / groups * prod(kernel)``; ``Linear``: ``out.numel() * in_features``.
3. ``zero``: norms, activations, pooling, dropout, identity, flatten, padding, up-sampling.
4. ``counter``: any other leaf module is measured with ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2)
   over its own calls, which catches ``F.conv2d``/``matmul`` on a module's own weights.
5. ``submodules``: a container without a formula is the sum of the submodules it called plus the matrix
   products it ran itself (measured by the counter).

A leaf that none of these counts (``uncounted``: it has parameters, or is of a type not known to be free) is
named in a ``warnings.warn``. A formula that disagrees with the sum of its own submodules is warned about too.

One forward pass at the given batch size runs with hooks on every submodule, in eval mode without autograd, with
parametrized weights evaluated beforehand under ``parametrize.cached()`` (see
:func:`lightops.profiling.memory.inference_context`).
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import timm.layers
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from torch.utils.flop_counter import FlopCounterMode

from ..blocks import ClipNorm, MultiScaleConcat, ResNorm
from ..validation import check_input_size
from .memory import (
    Device,
    check_batch_size,
    inference_context,
    make_input,
    on_device,
    param_memory,
    peak_activation_memory,
)
from .records import ModuleRecord, Profile, TypeRecord

__all__ = ["ZERO_MAC_TYPES", "ModuleRecord", "TypeRecord", "Profile", "profile", "complexity", "layer_macs"]

def _optional(module: Any, name: str) -> Tuple[type, ...]:
    """``(module.name,)`` when that class exists in the installed torch, else ``()``."""
    return (getattr(module, name),) if hasattr(module, name) else ()


def _activation_types() -> Tuple[type, ...]:
    """Activation classes defined in ``torch.nn.modules.activation`` and ``timm.layers.activations``."""
    found = []
    for mod in (nn.modules.activation, getattr(timm.layers, "activations", None)):
        if mod is not None:
            found += [c for c in vars(mod).values() if isinstance(c, type) and issubclass(c, nn.Module)
                      and c.__module__ == mod.__name__ and c is not nn.MultiheadAttention]
    return tuple(found)


# Leaf modules that cost 0 MACs by the DCASE convention (norms, activations, pooling, dropout, reshapes).
ZERO_MAC_TYPES: Tuple[type, ...] = (
    nn.Identity, nn.Flatten, nn.Unflatten,
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    *_optional(nn, "RMSNorm"),
    nn.modules.pooling._AvgPoolNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd, nn.modules.pooling._MaxUnpoolNd,
    nn.modules.dropout._DropoutNd, nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
    nn.modules.padding._ReplicationPadNd, *_optional(nn.modules.padding, "_CircularPadNd"),
    nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle,
    timm.layers.DropPath,
    MultiScaleConcat,  # adaptive average pooling and concatenation
    ResNorm, ClipNorm,  # input normalisations: no weights
    *_activation_types(),
)


def layer_macs(module: nn.Module, inputs: Sequence[torch.Size], output_numels: Sequence[int]) -> Optional[int]:
    """MACs of a standard layer from its closed form, or ``None`` when ``module`` is not one.

    Args:
        module: the layer.
        inputs: shape of its first input tensor, per call.
        output_numels: number of elements of its output, per call.

    Returns:
        ``ConvNd``: ``out.numel() * Cin / groups * prod(kernel)``; ``ConvTransposeNd``:
        ``in.numel() * Cout / groups * prod(kernel)``; ``Linear``: ``out.numel() * in_features``; bias
        additions are not counted. ``None`` for any other module.
    """
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for d in module.kernel_size:
            k *= d
        if module.transposed:
            per_in = module.out_channels // module.groups * k
            return sum(_numel(s) * per_in for s in inputs)
        return sum(n * (module.in_channels // module.groups) * k for n in output_numels)
    if isinstance(module, nn.Linear):
        return sum(n * module.in_features for n in output_numels)
    return None


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _formula(module: nn.Module) -> Optional[Callable[[Tuple[int, ...]], int]]:
    """``module.macs`` when it takes one ``input_size`` argument (``DepthwisePair.macs(f, t)`` does not)."""
    fn = getattr(module, "macs", None)
    if not callable(fn):
        return None
    try:
        inspect.signature(fn).bind((1, 1, 1))
    except (TypeError, ValueError):
        return None
    return fn


def _first_tensor(obj: Any) -> Optional[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (list, tuple)):
        for o in obj:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, dict):
        return _first_tensor(list(obj.values()))
    return None


def _shapes(obj: Any) -> Any:
    """Output shape as a list, or a list of lists for tuple/list outputs; None when no tensor comes out."""
    if isinstance(obj, torch.Tensor):
        return list(obj.shape)
    if isinstance(obj, (list, tuple)):
        shapes = [s for s in (_shapes(o) for o in obj) if s is not None]
        return shapes or None
    if isinstance(obj, dict):
        return _shapes(list(obj.values()))
    return None


def _numels(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel()
    if isinstance(obj, (list, tuple)):
        return sum(_numels(o) for o in obj)
    return 0


def _type_name(module: nn.Module) -> str:
    """Class name; a parametrized module reports its own class, not the ``Parametrized...`` subclass made for it."""
    cls = type(module)
    if parametrize.is_parametrized(module) and cls.__bases__:
        cls = cls.__bases__[0]
    return cls.__name__


def _trainable(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@dataclass
class _Stat:
    """What the hooks collect about one module."""

    module: nn.Module
    name: str
    order: int = -1
    calls: int = 0
    inputs: List[Optional[torch.Size]] = field(default_factory=list)
    output_shape: Any = None
    output_numels: List[int] = field(default_factory=list)
    counter_flops: int = 0  # inclusive, all calls
    child_flops: int = 0  # part of counter_flops spent inside called submodules
    children: List[int] = field(default_factory=list)  # ids of submodules called, in call order


def complexity(module: nn.Module, input_size: Sequence[int]) -> Tuple[int, int]:
    """Trainable parameters and MACs of one forward pass at batch 1: the figures DCASE and the paper report.

    The module's own ``macs(input_size)`` formula when it has one (the DSSDN family, the operators), else
    :func:`profile`'s total (on the ``meta`` device: no data is allocated). The one MAC counter the trainer, the
    CLI and the benchmarks use.
    """
    params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if callable(getattr(module, "macs", None)):
        return params, int(module.macs(tuple(input_size)))
    return params, int(profile(module, input_size, device="meta", memory=False).total_macs)


def profile(module: nn.Module, input_size: Sequence[int], *, batch_size: int = 1, device: Device = "cpu",
            memory: bool = True) -> Profile:
    """Profile one forward pass of ``module``: per-module shapes, parameters and MACs, totals, memory.

    Args:
        module: the model, block or operator (it is not modified; a copy is made to change device).
        input_size: ``(C, F, T)`` for a module taking ``(B, C, F, T)``.
        batch_size: batch of the pass (1: the per-clip figure DCASE and the paper report).
        device: where to run the pass; ``"meta"`` works without allocating data.
        memory: also measure the peak activation memory (a second pass).

    Returns:
        A :class:`Profile`.

    Raises:
        ValueError: ``input_size`` or ``batch_size`` is malformed.

    Warns:
        UserWarning: a leaf module nothing counts, or a ``macs`` formula that disagrees with its submodules.
    """
    size = check_input_size(input_size, "profile", ndim=None)
    batch_size = check_batch_size(batch_size, "profile")
    work = on_device(module, device)
    x = make_input(work, size, batch_size, device)

    stats: Dict[int, _Stat] = {}
    for name, m in work.named_modules():
        stats.setdefault(id(m), _Stat(m, name))
    stack: List[Tuple[int, int]] = []  # (id of the running module, counter total when it started)
    order = [0]

    with inference_context(work), FlopCounterMode(display=False) as counter:
        def pre_hook(mod: nn.Module, args: Any, kwargs: Any) -> None:
            st = stats[id(mod)]
            if st.order < 0:
                st.order, order[0] = order[0], order[0] + 1
                if stack:
                    stats[stack[-1][0]].children.append(id(mod))
            t = _first_tensor((args, kwargs))
            st.inputs.append(t.shape if t is not None else None)
            stack.append((id(mod), counter.get_total_flops()))

        def post_hook(mod: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
            mid, start = stack.pop()
            st = stats[mid]
            flops = counter.get_total_flops() - start
            st.calls += 1
            st.counter_flops += flops
            st.output_numels.append(_numels(output))
            if st.output_shape is None:
                st.output_shape = _shapes(output)
            if stack:
                stats[stack[-1][0]].child_flops += flops

        handles = []
        try:
            for st in stats.values():
                handles.append(st.module.register_forward_pre_hook(pre_hook, with_kwargs=True))
                handles.append(st.module.register_forward_hook(post_hook, with_kwargs=True))
            out = work(x)
        finally:
            for h in handles:
                h.remove()
    counter_total = counter.get_total_flops() // 2

    messages: List[str] = []
    resolved = _resolve(stats, id(work), messages)
    records = _records(stats, resolved, id(work), messages)
    by_type = _by_type(stats, resolved, id(work))
    total = resolved[id(work)][0]
    for msg in messages:
        warnings.warn(msg, UserWarning, stacklevel=2)
    peak = peak_activation_memory(module, size, batch_size=batch_size, device=device) if memory else None
    return Profile(
        model=_type_name(module), input_size=size, batch_size=batch_size, device=str(torch.device(device)),
        output_shape=_shapes(out), total_macs=total, total_params=_trainable(module), counter_macs=counter_total,
        param_memory=param_memory(module), peak_activation_bytes=peak, records=records, by_type=by_type,
        warnings=messages,
    )


def _resolve(stats: Dict[int, _Stat], root: int, messages: List[str]) -> Dict[int, Tuple[int, str, bool]]:
    """MACs and source of every module that ran; the bool says whether everything below was counted."""
    out: Dict[int, Tuple[int, str, bool]] = {}

    def formula_macs(st: _Stat) -> Optional[int]:
        fn = _formula(st.module)
        if fn is None:
            return None
        label = f"'{st.name or '(root)'}' ({_type_name(st.module)})"
        try:
            total = 0
            for shape in st.inputs:
                if shape is None or len(shape) < 2:
                    raise ValueError(f"no (B, C, ...) tensor input, got {shape}")
                total += int(fn(tuple(shape[1:]))) * shape[0]
            return total
        except Exception as e:  # a formula that cannot take this input: count the parts instead
            messages.append(f"macs() of {label} failed on input {[list(s) for s in st.inputs if s is not None]} "
                            f"({type(e).__name__}: {e}); counting its submodules instead")
            return None

    def visit(i: int) -> Tuple[int, str, bool]:
        st = stats[i]
        if i in out:
            return out[i]
        kids = [visit(c) for c in st.children]
        complete = all(k[2] for k in kids)
        fm = formula_macs(st)
        if st.children:
            summed = sum(k[0] for k in kids) + (st.counter_flops - st.child_flops) // 2
            if fm is not None and complete and fm != summed:
                messages.append(f"macs() of '{st.name or '(root)'}' ({_type_name(st.module)}) gives {fm:,} MACs "
                                f"but its submodules count {summed:,}")
            res = (fm, "formula", True) if fm is not None else (summed, "submodules", complete)
        elif fm is not None:
            res = (fm, "formula", True)
        else:
            res = _leaf(st)
        out[i] = res
        return res

    visit(root)
    return out


def _leaf(st: _Stat) -> Tuple[int, str, bool]:
    m = st.module
    lm = layer_macs(m, [s for s in st.inputs if s is not None], st.output_numels)
    if lm is not None:
        return lm, "layer", True
    if isinstance(m, ZERO_MAC_TYPES):
        return 0, "zero", True
    if st.counter_flops > 0:
        return st.counter_flops // 2, "counter", True
    return 0, "uncounted", False


def _records(stats: Dict[int, _Stat], resolved: Dict[int, Tuple[int, str, bool]], root: int,
             messages: List[str]) -> List[ModuleRecord]:
    """One record per module that ran, with the flat view marked from the root down."""
    ran = sorted((st for st in stats.values() if st.order >= 0), key=lambda s: s.order)
    recs: Dict[int, ModuleRecord] = {}
    for st in ran:
        macs, source, _ = resolved[id(st.module)]
        first = st.inputs[0] if st.inputs else None
        recs[id(st.module)] = ModuleRecord(
            name=st.name, type=_type_name(st.module), depth=st.name.count(".") + 1 if st.name else 0,
            calls=st.calls, input_shape=list(first) if first is not None else None, output_shape=st.output_shape,
            params=_trainable(st.module), macs=macs, source=source, counter_macs=st.counter_flops // 2,
            leaf=not st.children)

    def mark(i: int, is_root: bool) -> None:
        st, rec = stats[i], recs[i]
        if (rec.source == "formula" and not is_root) or not st.children:
            rec.frontier, rec.share_macs = True, rec.macs
            if rec.source == "uncounted":
                kind = "has parameters" if any(True for _ in st.module.parameters()) else \
                    "is of a type not known to cost 0 MACs"
                messages.append(f"leaf module '{rec.name or '(root)'}' ({rec.type}) {kind} but no macs() formula, "
                                f"layer rule or measured matrix product counts it; counted as 0 MACs")
            return
        own = (st.counter_flops - st.child_flops) // 2
        if own:
            rec.frontier, rec.share_macs = True, own
        for c in st.children:
            mark(c, False)

    mark(root, True)
    return list(recs.values())


_PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)  # say nothing about cost; left out of by_type


def _by_type(stats: Dict[int, _Stat], resolved: Dict[int, Tuple[int, str, bool]], root: int) -> List[TypeRecord]:
    """Aggregate per module type over the outermost instances of each type."""
    total = resolved[root][0]
    groups: Dict[str, List[_Stat]] = {}

    def walk(i: int, outer_types: frozenset) -> None:
        st = stats[i]
        tname = _type_name(st.module)
        if tname not in outer_types and not isinstance(st.module, _PLAIN_CONTAINERS):
            groups.setdefault(tname, []).append(st)
        for c in st.children:
            walk(c, outer_types | {tname})

    walk(root, frozenset())
    out = []
    for tname, sts in groups.items():
        seen: Dict[int, int] = {}
        for st in sts:
            for p in st.module.parameters():
                if p.requires_grad:
                    seen[id(p)] = p.numel()
        macs = sum(resolved[id(st.module)][0] for st in sts)
        out.append(TypeRecord(type=tname, count=len(sts), calls=sum(st.calls for st in sts),
                              params=sum(seen.values()), macs=macs, share=macs / total if total else 0.0))
    out.sort(key=lambda t: (-t.macs, -t.params, t.type))
    return out
