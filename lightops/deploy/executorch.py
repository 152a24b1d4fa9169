"""ExecuTorch export (``.pte``, XNNPACK delegate) of a fused lightops model, fp32 or int8, checked before it is written.

``export_executorch("dssdn_small", "small.pte")`` (or ``lightops export dssdn_small --format executorch --out
small.pte``) builds or loads the model, fuses it into its fixed-length deployed form
(:func:`~lightops.deploy.module.deploy_module`), exports it with ``torch.export`` at batch 1 and the example's time
length, lowers it with ``executorch.exir.to_edge_transform_and_lower(..., partitioner=[XnnpackPartitioner()])`` and
``to_executorch()``, runs the program in ``executorch.runtime`` and compares it with PyTorch, then moves it to
``out`` with its front end and classes beside it in ``out + ".json"`` (the keys ONNX files carry,
:data:`~lightops.deploy.onnx_runtime.METADATA_KEYS`, plus ``lightops.executorch``).

The program's input is fixed, ``(1, C, F, T)`` log-mel in dB: ``lightops predict`` runs windows of the model's clip
one at a time. Whatever XNNPACK does not take runs in ExecuTorch's portable kernels, which are slow: the export counts
delegated and portable operators and refuses a program with portable operators unless ``allow_portable``. A ceil-mode
average pool (DSSDB's time pooling at an odd length), which XNNPACK does not take, is rewritten exactly first
(:class:`SplitAvgPool2d`), and so are global means and zero-padded pools (:func:`xnnpack_rewrites`). An int8
checkpoint (``lightops quantize``, :mod:`lightops.deploy.pt2e`) is lowered from its quantized program (XNNPACK's
int8 kernels) and checked by top-1 agreement and probability difference.

Needs the ``edge`` extra (``pip install 'lightops[edge]'``: executorch, torchao).
"""
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import LoadedModel, resolve_model
from ..fileio import PathLike, atomic_path, atomic_write_json, check_output_path
from ..validation import check_model_input_size
from .export import model_metadata
from .native_stderr import filtered_stderr
from .parity import ParityCheck

__all__ = ["require_executorch", "export_executorch", "ExecuTorchResult", "SplitAvgPool2d", "exact_pools",
           "pools_as_convs",
           "lower_to_executorch", "xnnpack_rewrites", "Delegation", "load_pte", "read_pte_metadata", "METADATA_SUFFIX"]

METADATA_SUFFIX = ".json"
"""The front end and classes of ``model.pte`` are in ``model.pte.json``."""
_IGNORED = ("getitem", "sym_size", "executorch_call_delegate")  # graph plumbing, not kernels


def require_executorch() -> None:
    """Raise ``ImportError`` naming the ``edge`` extra when executorch or torchao is missing.

    torchao 0.18 registers an enum with ``torch.utils._pytree`` at import, which torch 2.14 answers with a
    deprecation warning on every command that loads an int8 model; the import here, the first of the package's,
    keeps that logger at ``ERROR``.
    """
    pytree_log = logging.getLogger("torch.utils._pytree")
    level = pytree_log.level
    pytree_log.setLevel(logging.ERROR)
    try:
        import executorch.exir  # noqa: F401
        import torchao  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ExecuTorch export and int8 quantization need the executorch and torchao packages ({e}); "
                          f"install them with pip install 'lightops[edge]'") from e
    finally:
        pytree_log.setLevel(level)


class SplitAvgPool2d(nn.Module):
    """A ceil-mode ``AvgPool2d`` whose windows do not overlap (kernel = stride, no padding), for fixed input shapes:
    the whole windows pooled as they are, the partial last row or column of windows pooled with a kernel of its real
    size, and the pieces concatenated.

    PyTorch's ceil mode averages a partial last window over its real elements; so does this, from slices,
    unpadded pools and a concatenation, which XNNPACK runs in fp32 and int8 (its int8 padding does not take every
    quantization).

    Args:
        kernel: ``(kh, kw)``, also the stride.
    """

    def __init__(self, kernel: Tuple[int, int]) -> None:
        super().__init__()
        self.kernel = (int(kernel[0]), int(kernel[1]))
        self.whole: Optional[nn.Conv2d] = None

    def convolve_whole(self, channels: int, ref: Optional[torch.Tensor] = None) -> None:
        """Take the whole windows with the depthwise convolution they equal (weights ``1 / (kh kw)``, stride the
        kernel) on ``channels`` channels (:func:`pools_as_convs`); the partial last window stays a pool."""
        ref = torch.zeros(()) if ref is None else ref
        self.whole = _pool_conv(channels, self.kernel, self.kernel, (0, 0), ref)

    def _pool(self, x: torch.Tensor, kernel: Tuple[int, int]) -> torch.Tensor:
        if self.whole is not None and kernel == self.kernel:
            return self.whole(x)
        return F.avg_pool2d(x, kernel, kernel)

    @staticmethod
    def _parts(length: int, k: int) -> List[Tuple[int, int, int]]:
        """``(start, stop, kernel)`` of the whole windows and of the partial last one along one axis."""
        whole = length - length % k
        return [p for p in ((0, whole, k), (whole, length, length - whole)) if p[1] > p[0]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, ceil(H / kh), ceil(W / kw))``."""
        (kh, kw), (h, w) = self.kernel, (int(x.shape[-2]), int(x.shape[-1]))
        rows = []
        for r0, r1, k1 in self._parts(h, kh):
            band = x if (r0, r1) == (0, h) else x[..., r0:r1, :]  # no full-range slice: it would be an alias copy
            cols = [self._pool(band if (c0, c1) == (0, w) else band[..., c0:c1], (k1, k2))
                    for c0, c1, k2 in self._parts(w, kw)]
            rows.append(torch.cat(cols, -1) if len(cols) > 1 else cols[0])
        return torch.cat(rows, -2) if len(rows) > 1 else rows[0]


def _pair(v: Any) -> Tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def exact_pools(net: nn.Module) -> int:
    """Replace, in place, every ceil-mode ``nn.AvgPool2d`` of ``net`` with kernel = stride and no padding by
    :class:`SplitAvgPool2d`; returns how many were replaced."""
    done = 0
    for _, parent in list(net.named_modules()):
        for name, child in list(parent.named_children()):
            if (isinstance(child, nn.AvgPool2d) and child.ceil_mode and _pair(child.padding) == (0, 0)
                    and _pair(child.kernel_size) == _pair(child.stride or child.kernel_size)):
                setattr(parent, name, SplitAvgPool2d(_pair(child.kernel_size)))
                done += 1
    return done


def _pool_conv(channels: int, kernel: Tuple[int, int], stride: Tuple[int, int], padding: Tuple[int, int],
               ref: torch.Tensor) -> nn.Conv2d:
    """The depthwise convolution an average pool counting its zero padding equals: weights ``1 / (kh kw)``, no bias."""
    conv = nn.Conv2d(channels, channels, kernel, stride=stride, padding=padding, groups=channels, bias=False,
                     device=ref.device, dtype=ref.dtype)
    nn.init.constant_(conv.weight, 1.0 / (kernel[0] * kernel[1]))
    conv.weight.requires_grad_(False)
    return conv


def pools_as_convs(net: nn.Module, input_size: Sequence[int], *, padded_only: bool = False) -> int:
    """Replace, in place, the average pools of ``net`` by the depthwise convolutions they equal (constant weights
    ``1 / (kh kw)``, no bias); returns how many were replaced. ``input_size`` ``(C, F, T)`` is run once to learn each
    pool's channels.

    Replaced: an ``nn.AvgPool2d`` without ceil mode or divisor override whose padding, if any, is counted; with
    ``padded_only`` only the padded ones. A :class:`SplitAvgPool2d` (unless ``padded_only``) keeps its pools of a
    partial last window and takes its whole windows with a convolution (:meth:`SplitAvgPool2d.convolve_whole`).

    For int8 programs, where an average pool is the slow operator: XNNPACK's int8 delegate takes no padded average
    pool (its padding refuses the pool's quantization; ExecuTorch ran the DCASE 2025 baseline's strided shortcut pool
    in a portable kernel, 82 % of its int8 time) and runs unpadded ones in fp32 between conversions; ONNX Runtime's
    ``QLinearAveragePool`` took 18 % of dssdn_large's int8 time on a 10-s clip. Depthwise convolutions are int8
    kernels in both, and the weights are exact in a per-channel int8 weight (a channel's one value is its largest:
    127 times its scale)."""
    def wanted(m: nn.Module) -> bool:
        if isinstance(m, SplitAvgPool2d):
            return not padded_only
        if not isinstance(m, nn.AvgPool2d) or m.ceil_mode or m.divisor_override is not None:
            return False
        padded = any(_pair(m.padding))
        return (padded and m.count_include_pad) or (not padded and not padded_only)

    pools = {name: m for name, m in net.named_modules() if wanted(m)}
    if not pools:
        return 0
    channels: Dict[str, int] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, n=name: channels.__setitem__(n, int(args[0].shape[1])))
             for name, m in pools.items()]
    ref = next(iter(net.parameters()), torch.zeros(()))
    try:
        with torch.no_grad():
            net(torch.zeros(1, *[int(v) for v in input_size], device=ref.device, dtype=ref.dtype))
    finally:
        for h in hooks:
            h.remove()
    for name, pool in pools.items():
        if name not in channels:  # not on this input's path
            continue
        if isinstance(pool, SplitAvgPool2d):
            pool.convolve_whole(channels[name], ref)
            continue
        kernel = _pair(pool.kernel_size)
        net.set_submodule(name, _pool_conv(channels[name], kernel, _pair(pool.stride or pool.kernel_size),
                                           _pair(pool.padding), ref))
    return len(channels)


def _shape(node: Any) -> Tuple[int, ...]:
    return tuple(int(v) for v in node.meta["val"].shape)


def _arg(node: Any, index: int, name: str, default: Any) -> Any:
    return node.args[index] if len(node.args) > index else node.kwargs.get(name, default)


def xnnpack_rewrites(program: Any, example: Tuple[torch.Tensor, ...], *, pad_pools: bool = True) -> Tuple[Any, int]:
    """Exact rewrites of a statically shaped ``ExportedProgram`` into operators XNNPACK takes, re-exported:

    - ``mean(x, (2, 3))`` without ``keepdim`` (a global average pool) -> ``avg_pool2d`` over the whole map and a
      reshape; ``mean`` over one of the two axes (ResNorm's statistics over time) -> ``avg_pool2d`` over that axis;
    - ``avg_pool2d`` with zero padding counted (``count_include_pad``, no ceil mode) -> constant zero padding and an
      unpadded pool (``pad_pools``; not in int8 programs: XNNPACK's int8 padding refuses their quantization).
    - ``instance_norm`` without running statistics or affine parameters (ClipNorm's) -> its means over the map,
      ``(x - mean) * rsqrt(mean((x - mean)^2) + eps)``: XNNPACK has no instance norm.
    - the glue :func:`lightops.deploy.pt2e.delegable_glue` rewrites (a channel ``split_with_sizes`` as slices, SPC's
      ``addcmul`` as a multiply and an add, ...): what SPC's partial form (``fuse(spc="partial")``) leaves.

    Returns:
        The program (re-exported when something changed) and the number of rewrites.
    """
    from .pt2e import delegable_glue

    aten = torch.ops.aten
    gm = program.module()
    done = delegable_glue(gm)
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        x = node.args[0] if node.args else None
        dims = sorted(int(d) % 4 for d in node.args[1]) if node.target == aten.mean.dim and len(_shape(x)) == 4 \
            else None
        keep = bool(_arg(node, 2, "keepdim", False)) if dims else False
        if dims in ([2], [3]) or (dims == [2, 3] and not keep):
            b, c, h, w = _shape(x)
            kernel = [h if 2 in dims else 1, w if 3 in dims else 1]
            with gm.graph.inserting_after(node):
                pool = gm.graph.call_function(aten.avg_pool2d.default, (x, kernel, kernel))
            out = pool
            if not keep:
                with gm.graph.inserting_after(pool):
                    out = gm.graph.call_function(aten.view.default, (pool, list(_shape(node))))
            node.replace_all_uses_with(out)
        elif node.target == aten.instance_norm.default and len(_shape(x)) == 4 \
                and all(a is None for a in node.args[1:5]) and _arg(node, 5, "use_input_stats", True):
            eps = float(_arg(node, 7, "eps", 1e-5))
            graph = gm.graph
            with graph.inserting_before(node):
                mean = graph.call_function(aten.mean.dim, (x, [2, 3], True))
                centred = graph.call_function(aten.sub.Tensor, (x, mean))
                var = graph.call_function(aten.mean.dim, (graph.call_function(aten.mul.Tensor, (centred, centred)),
                                                          [2, 3], True))
                scale = graph.call_function(aten.rsqrt.default, (graph.call_function(aten.add.Tensor, (var, eps)),))
                out = graph.call_function(aten.mul.Tensor, (centred, scale))
            node.replace_all_uses_with(out)
        elif pad_pools and node.target == aten.avg_pool2d.default and any(_arg(node, 3, "padding", [0, 0])) \
                and not _arg(node, 4, "ceil_mode", False) and _arg(node, 5, "count_include_pad", True) \
                and _arg(node, 6, "divisor_override", None) is None:
            ph, pw = _arg(node, 3, "padding", [0, 0])
            with gm.graph.inserting_before(node):
                pad = gm.graph.call_function(aten.constant_pad_nd.default, (x, [pw, pw, ph, ph], 0.0))
            node.args, node.kwargs = (pad, node.args[1], _arg(node, 2, "stride", node.args[1]), [0, 0]), {}
        else:
            continue
        done += 1
    if not done:
        return program, 0
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return torch.export.export(gm, example), done


@dataclass(frozen=True)
class Delegation:
    """What the XNNPACK partitioner took: operators inside delegates, and the others by name (portable kernels)."""

    delegates: int
    delegated_ops: int
    portable: Dict[str, int]

    @property
    def portable_ops(self) -> int:
        """Operators left to ExecuTorch's portable kernels."""
        return sum(self.portable.values())

    def to_dict(self) -> Dict[str, Any]:
        """Plain values for JSON."""
        return {"delegates": self.delegates, "delegated_ops": self.delegated_ops, "portable_ops": self.portable_ops,
                "portable": dict(self.portable)}

    def __str__(self) -> str:
        rest = ", ".join(f"{k} x{v}" for k, v in sorted(self.portable.items())) or "none"
        return (f"XNNPACK: {self.delegated_ops} operator(s) in {self.delegates} delegate(s); portable kernels: "
                f"{self.portable_ops} ({rest})")


def _op_name(node: Any) -> str:
    target = node.target
    name = getattr(target, "__name__", None) or str(target)
    return str(getattr(target, "_name", name)).split("::")[-1]


def _delegation(edge: Any) -> Delegation:
    gm = edge.exported_program().graph_module
    delegates, inside, portable = 0, 0, Counter()
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        name = _op_name(node)
        if "executorch_call_delegate" in str(node.target):
            delegates += 1
            lowered = getattr(gm, node.args[0].target)
            inner = lowered.original_module.graph_module.graph.nodes
            inside += sum(1 for n in inner if n.op == "call_function" and not any(k in _op_name(n) for k in _IGNORED))
        elif not any(k in name for k in _IGNORED) and name not in ("mul", "add", "floordiv"):  # symbolic arithmetic
            portable[name] += 1
    return Delegation(delegates, inside, dict(portable))


def lower_to_executorch(program: Any) -> Tuple[bytes, Delegation]:
    """Lower an ``ExportedProgram`` with the XNNPACK partitioner: the ``.pte`` bytes and what was delegated."""
    require_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    delegation = _delegation(edge)
    return bytes(edge.to_executorch().buffer), delegation


def load_pte(path: PathLike) -> Any:
    """The ``forward`` method of a ``.pte`` file in ``executorch.runtime`` (``method.execute([x])[0]``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file ExecuTorch cannot load.
    """
    require_executorch()
    from executorch.runtime import Runtime

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ExecuTorch program not found: {path}")
    try:
        with filtered_stderr():  # the runtime's CPU probe logs from C++ on the first load (native_stderr)
            return Runtime.get().load_program(path).load_method("forward")
    except Exception as e:  # the runtime raises RuntimeError/ValueError with its own error codes
        raise ValueError(f"{path} is not an ExecuTorch program the runtime can load ({e})") from None


def read_pte_metadata(path: PathLike) -> Dict[str, Any]:
    """The metadata sidecar ``path + ".json"`` of a ``.pte`` file (JSON-decoded values).

    Raises:
        ValueError: the sidecar is missing or not lightops metadata.
    """
    side = os.fspath(path) + METADATA_SUFFIX
    if not os.path.isfile(side):
        raise ValueError(f"{path} has no metadata file {side}: export it with `lightops export --format executorch` "
                         f"so that its front end and classes are known")
    with open(side, encoding="utf-8") as fh:
        meta = json.load(fh)
    missing = [k for k in ("lightops.frontend", "lightops.input", "lightops.executorch") if k not in meta]
    if missing:
        raise ValueError(f"{side} lacks the lightops metadata {missing}")
    return meta


@dataclass(frozen=True)
class ExecuTorchResult:
    """What :func:`export_executorch` wrote and checked.

    Attributes:
        path: the ``.pte`` file; its metadata is ``path + ".json"``.
        dtype: ``"fp32"`` or ``"int8"``.
        input_shape: the program's fixed input ``(1, C, F, T)``.
        delegation: operators XNNPACK took and those left to portable kernels.
        checks: ExecuTorch runs compared with PyTorch (fp32: the float model; int8: the quantized PyTorch model).
        atol: the tolerance they passed (fp32).
        agreement: int8 only: top-1 agreement with the float model on the check inputs.
        max_prob_diff: int8 only: largest probability difference from the float model.
        file_bytes: size of the file.
        notes: remarks (pools rewritten, portable operators accepted).
    """

    path: str
    dtype: str
    input_shape: Tuple[int, ...]
    delegation: Delegation
    checks: Tuple[ParityCheck, ...]
    atol: float
    agreement: Optional[float] = None
    max_prob_diff: Optional[float] = None
    file_bytes: int = 0
    notes: Tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """A few lines for the command line."""
        worst = max(c.max_abs_diff for c in self.checks)
        lines = [f"wrote {self.path} ({self.file_bytes / 1e6:.2f} MB, ExecuTorch {self.dtype}, XNNPACK) and "
                 f"{self.path}{METADATA_SUFFIX}", f"input 'logmel' {list(self.input_shape)} (fixed), output 'logits'",
                 str(self.delegation),
                 f"executorch.runtime vs PyTorch over {len(self.checks)} input(s), max abs logit diff {worst:.2e}"
                 + (f" (<= {self.atol:g} x max(1, |logit|))" if self.dtype == "fp32" else "")]
        if self.agreement is not None:
            lines.append(f"int8 vs fp32: top-1 agreement {self.agreement:.1%}, max probability diff "
                         f"{self.max_prob_diff:.4f}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def _check_inputs(loaded: LoadedModel, size: Sequence[int], count: int, seed: int) -> List[torch.Tensor]:
    mean, std = loaded.norm
    gen = torch.Generator().manual_seed(seed)
    return [mean + std * torch.randn(1, *size, generator=gen) for _ in range(count)]


def _parity(method: Any, reference: nn.Module, inputs: Sequence[torch.Tensor]) -> Tuple[List[ParityCheck], Any]:
    checks, pairs = [], []
    for x in inputs:
        with torch.no_grad():
            ref = reference(x).float()
        got = method.execute([x.contiguous()])[0].float()
        if got.shape != ref.shape:
            raise RuntimeError(f"ExecuTorch returned shape {list(got.shape)} for input {list(x.shape)}, PyTorch "
                               f"{list(ref.shape)}")
        checks.append(ParityCheck(tuple(x.shape), float((got - ref).abs().max()), float(ref.abs().max())))
        pairs.append((ref, got))
    return checks, pairs


def _is_int8(loaded: LoadedModel) -> bool:
    from .pt2e import is_quantized

    return is_quantized(loaded.model)


def _program(loaded: LoadedModel, size: Tuple[int, int, int], fuse_kwargs: Optional[Dict[str, Any]] = None
             ) -> Tuple[Any, nn.Module, str, List[str]]:
    """The exported program to lower, the PyTorch module to compare with, the dtype, and notes."""
    from .module import deploy_module

    example = (torch.zeros(1, *size),)
    if _is_int8(loaded):  # the program takes the log-mel in dB, as the fp32 one: normalisation first, in float
        from .pt2e import int8_module

        net = int8_module(loaded, size)
        program, done = xnnpack_rewrites(torch.export.export(net, example), example, pad_pools=False)
        return program, net, "int8", [f"{done} operator(s) rewritten for XNNPACK"] if done else []
    net = deploy_module(loaded, n_mels=size[1], export_size=size, fixed_length=True, fuse_kwargs=fuse_kwargs)
    pools = exact_pools(net)
    notes = [f"{pools} ceil-mode average pool(s) as pools of the whole and the partial windows (XNNPACK has no ceil "
             f"mode)"] \
        if pools else []
    program, done = xnnpack_rewrites(torch.export.export(net, example), example)
    notes += [f"{done} global mean(s) or padded average pool(s) rewritten for XNNPACK"] if done else []
    return program, net, "fp32", notes


def export_executorch(model_or_name: Union[nn.Module, PathLike, LoadedModel], out: PathLike,
                      input_size: Optional[Sequence[int]] = None, *, atol: float = 1e-5, checks: int = 3,
                      seed: int = 0, trusted: bool = False, allow_portable: bool = False,
                      fuse_kwargs: Optional[Dict[str, Any]] = None) -> ExecuTorchResult:
    """Export the fused (or int8) model to an ExecuTorch ``.pte`` with the XNNPACK delegate, check it, and write it
    and its metadata atomically.

    Args:
        model_or_name: an ``nn.Module``, a checkpoint path (fp32, or int8 from ``lightops quantize``), a
            :class:`~lightops.checkpoint.LoadedModel` or a lightops model name (random weights).
        out: the ``.pte`` file to write (and ``out + ".json"``).
        input_size: the fixed log-mel ``(C, F, T)`` (default: the checkpoint's, or the quantized program's).
        atol: largest accepted logit difference from PyTorch per unit of logit above 1 (fp32, against the unfused
            float model; an int8 program's difference from the quantized PyTorch model is reported, not checked:
            XNNPACK's int8 kernels round differently, by a quantization step or more).
        checks: random inputs compared (at least 16 for int8).
        seed: their seed.
        trusted: allow full unpickling of a checkpoint.
        allow_portable: accept operators left to ExecuTorch's portable kernels (slow), with a note.
        fuse_kwargs: options for :func:`lightops.deploy.fuse` of an fp32 model (e.g. ``{"spc": "partial"}``).

    Returns:
        An :class:`ExecuTorchResult`.

    Raises:
        ValueError: bad ``input_size``; an unknown model; an int8 model quantized for another backend than xnnpack.
        RuntimeError: portable operators without ``allow_portable``, or ExecuTorch disagrees with PyTorch (nothing
            written).
        ImportError: executorch or torchao is missing.
    """
    require_executorch()
    path = check_output_path(out)
    loaded = resolve_model(model_or_name, trusted=trusted)
    int8_size = loaded.model.input_size if _is_int8(loaded) else None
    backend = getattr(loaded.model, "info", {}).get("backend", "xnnpack") if int8_size else "xnnpack"
    if backend != "xnnpack":
        raise ValueError(f"export_executorch: the int8 model was quantized for the {backend!r} backend, whose program "
                         f"XNNPACK cannot run; quantize with --backend xnnpack for ExecuTorch")
    size = tuple(input_size) if input_size is not None else (int8_size or loaded.default_input_size())
    c, f, t = check_model_input_size(loaded.model, size, "export_executorch") if int8_size is None else size
    size = (int(c), int(f), int(t))
    if fuse_kwargs and int8_size:
        raise ValueError("export_executorch: fuse_kwargs applies to an fp32 model; an int8 model keeps its form")
    program, reference, dtype, notes = _program(loaded, size, fuse_kwargs)
    data, delegation = lower_to_executorch(program)
    if delegation.portable_ops and not allow_portable:
        raise RuntimeError(f"{delegation}: these would run in ExecuTorch's slow portable kernels; pass "
                           f"allow_portable=True (--allow-portable) to write the program anyway")
    notes += [f"accepted {delegation.portable_ops} portable operator(s)"] if delegation.portable_ops else []
    inputs = _check_inputs(loaded, size, max(checks, 16) if dtype == "int8" else checks, seed)
    meta = {k: json.loads(v) for k, v in model_metadata(loaded, size, False, fixed_length=True).items()}
    meta["lightops.executorch"] = {"dtype": dtype, "input_shape": [1, *size], "delegation": delegation.to_dict()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
        found, pairs = _parity(load_pte(tmp), reference, inputs)
        bad = [chk for chk in found if not chk.within(atol)] if dtype == "fp32" else []
        if dtype == "int8":  # XNNPACK's int8 kernels round differently: reported, judged by agreement with fp32
            notes.append(f"int8 logits vs the quantized PyTorch model: max abs diff "
                         f"{max(c.max_abs_diff for c in found):.3g}")
        if bad:
            raise RuntimeError(f"ExecuTorch disagrees with PyTorch beyond atol={atol} (per unit of logit above 1): "
                               + ", ".join(f"{b.max_abs_diff:.3e} at |logit| <= {b.max_abs_logit:.3g}" for b in bad))
        meta["lightops.executorch"]["num_classes"] = int(pairs[0][1].shape[-1])
        agreement = prob = None
        if dtype == "int8":
            from .pt2e import float_agreement

            agreement, prob = float_agreement(loaded, inputs, torch.cat([g for _, g in pairs]))
            meta["lightops.executorch"].update(agreement=agreement, max_prob_diff=prob)
        atomic_write_json(meta, path + METADATA_SUFFIX)
        size_bytes = os.path.getsize(tmp)
    return ExecuTorchResult(path, dtype, (1, *size), delegation, tuple(found), atol, agreement, prob, size_bytes,
                            tuple(notes))
