"""ONNX export of a fused lightops model, checked with onnx and onnxruntime before it is written.

``export_onnx("dssdn_small", "small.onnx")`` (or ``lightops export dssdn_small --format onnx --out small.onnx``)
builds or loads the model (:func:`lightops.checkpoint.resolve_model`), fuses it (:func:`lightops.deploy.fuse`),
exports it with dynamic batch and time axes, runs ``onnx.checker.check_model``, runs the file with onnxruntime on
CPU at two time lengths and batch 2 and compares the logits with PyTorch
(:func:`~lightops.deploy.parity.onnx_parity`),
and only then moves it to ``out`` (:func:`lightops.fileio.atomic_path`): a failure at any step leaves nothing there.

Exporter: ``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`` first; the TorchScript-based exporter
(``dynamo=False, dynamic_axes=...``) is the fallback, and the result says which one wrote the file and why the
first failed. The model exports as it stands: DSSDN's multi-scale pooling
(:class:`~lightops.blocks.MultiScaleConcat`) computes its averages in an export-exact form while being exported.
"""
import contextlib
import io
import json
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ..checkpoint import LoadedModel, resolve_model
from ..fileio import atomic_path, check_output_path
from ..validation import check_float, check_int, check_model_input_size
from .module import deploy_module
from .onnx_runtime import require_onnx
from .parity import ParityCheck, onnx_parity

__all__ = ["export_onnx", "ExportResult", "ExportSpec", "export_spec", "write_onnx", "model_metadata", "EXPORTERS",
           "check_export_input", "optimize_onnx_graph", "store_weights_fp16", "FP16_ATOL"]

EXPORTERS = ("auto", "dynamo", "torchscript")
_MAX_TIME = 1 << 20  # upper bound of the dynamic time axis (frames, or samples with the front end)
_MAX_BATCH = 1 << 16
# DSSDB's distilled taps padded to whole channel blocks of ONNX Runtime's NCHWc layout (16 floats on AVX-512, a
# multiple of AVX2's 8): their concatenation then stays in that layout (lightops.deploy.align).
EXPORT_CHANNEL_ALIGN = 16


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote and checked.

    Attributes:
        path: the ONNX file.
        exporter: ``"dynamo"`` or ``"torchscript"``, the exporter that wrote it.
        opset: ONNX opset of the file.
        input_name, output_name: graph input and output names.
        dynamic_axes: symbolic axes of the input, ``{axis: name}``.
        with_frontend: the graph takes a waveform ``(B, samples)`` instead of a log-mel ``(B, C, F, T)``.
        checks: onnxruntime runs compared with PyTorch.
        atol: the tolerance they passed.
        file_bytes: size of the file.
        notes: why a first exporter failed, and other remarks.
    """

    path: str
    exporter: str
    opset: int
    input_name: str
    output_name: str
    dynamic_axes: Dict[int, str]
    with_frontend: bool
    checks: Tuple[ParityCheck, ...]
    atol: float
    file_bytes: int
    notes: Tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """A few lines for the command line."""
        checks = ", ".join(f"{list(c.input_shape)}: {c.max_abs_diff:.2e}" for c in self.checks)
        lines = [f"wrote {self.path} ({self.file_bytes / 1e6:.2f} MB, opset {self.opset}, {self.exporter} exporter)",
                 f"input {self.input_name!r} dynamic axes {self.dynamic_axes}, output {self.output_name!r}"
                 + (", waveform input (log-mel front end inside)" if self.with_frontend else ""),
                 "onnx.checker: ok",
                 f"onnxruntime vs PyTorch, max abs diff (<= {self.atol:g} x max(1, |logit|)): {checks}"]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def _export_dynamo(net: nn.Module, example: torch.Tensor, path: str, opset: Optional[int],
                   axes: Dict[int, Tuple[str, int]], names: Tuple[str, str]) -> None:
    dims = {ax: torch.export.Dim(name, min=low, max=_MAX_BATCH if ax == 0 else _MAX_TIME)
            for ax, (name, low) in axes.items()}
    kwargs: Dict[str, Any] = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (example,), path, dynamo=True, dynamic_shapes=(dims,), input_names=[names[0]],
                          output_names=[names[1]], external_data=False, verbose=False, **kwargs)


def _export_torchscript(net: nn.Module, example: torch.Tensor, path: str, opset: Optional[int],
                        axes: Dict[int, Tuple[str, int]], names: Tuple[str, str]) -> None:
    kwargs: Dict[str, Any] = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamic = {names[0]: {ax: name for ax, (name, _) in axes.items()}, names[1]: {0: axes[0][0]}} if axes else None
        torch.onnx.export(net, (example,), path, dynamo=False, input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes=dynamic, **kwargs)


def _check_lengths(t: int, min_frames: int) -> Tuple[int, int]:
    """Two time lengths for the parity check: the example's and a longer one with other remainders."""
    return t, max(2 * t + 5, min_frames + 7)


@dataclass(frozen=True)
class ExportSpec:
    """The example input, dynamic axes and check inputs of one export."""

    example: torch.Tensor
    inputs: Tuple[torch.Tensor, ...]
    axes: Dict[int, Tuple[str, int]]  # axis -> (name, smallest value)
    names: Tuple[str, str]  # graph input and output names


def export_spec(loaded: LoadedModel, input_size: Sequence[int], *, with_frontend: bool = False,
                batch_size: int = 2, seed: int = 0, static: bool = False) -> ExportSpec:
    """Example input, dynamic axes and check inputs for an export: the example's length and a longer one, or with
    ``static`` the example's length only (the batch axis stays dynamic)."""
    c, f, t = check_model_input_size(loaded.model, input_size, "export")
    min_frames = getattr(loaded.model, "min_frames", 1)
    gen = torch.Generator().manual_seed(seed)
    lengths = (t,) if static else _check_lengths(t, min_frames)
    if with_frontend:
        hop = loaded.front_end(n_mels=f).logmel.hop_length
        samples = [(n - 1) * hop for n in lengths]  # centred frames: T = 1 + samples // hop
        inputs = tuple(0.1 * torch.randn(batch_size, n, generator=gen) for n in samples)
        axes = {0: ("batch", 1)} if static else {0: ("batch", 1), 1: ("samples", max(1, (min_frames - 1) * hop))}
        return ExportSpec(inputs[0].clone(), inputs, axes, ("waveform", "logits"))
    mean, std = loaded.norm  # inputs at the scale the model was trained on, in the graph's input units
    inputs = tuple(mean + std * torch.randn(batch_size, c, f, n, generator=gen) for n in lengths)
    axes = {0: ("batch", 1)} if static else {0: ("batch", 1), 3: ("time", min_frames)}
    return ExportSpec(inputs[0].clone(), inputs, axes, ("logmel", "logits"))


def write_onnx(net: nn.Module, path: str, spec: ExportSpec, *, exporter: str = "auto",
               opset: Optional[int] = None) -> Tuple[str, List[str]]:
    """Export ``net`` to ``path`` (no checks): returns the exporter that worked and why others failed.

    Raises:
        RuntimeError: every exporter tried failed.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    order = {"auto": ("dynamo", "torchscript"), "dynamo": ("dynamo",), "torchscript": ("torchscript",)}[exporter]
    notes: List[str] = []
    for name in order:
        try:
            with _quiet():
                fn = _export_dynamo if name == "dynamo" else _export_torchscript
                fn(net, spec.example, path, opset, spec.axes, spec.names)
            written = _file_opset(path)
            if opset is not None and written != opset:  # the dynamo exporter writes 18 when it cannot convert
                raise RuntimeError(f"it wrote opset {written}, not the opset {opset} asked for")
            return name, notes
        except Exception as e:  # every exporter error is reported, then the next exporter is tried
            notes.append(f"{name} exporter failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300]}")
    raise RuntimeError("ONNX export failed; " + "; ".join(notes))


def _file_opset(path: str) -> int:
    """The default-domain opset an ONNX file imports."""
    import onnx

    proto = onnx.load(path, load_external_data=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def check_export_input(loaded: LoadedModel, input_size: Sequence[int], name: str = "export") -> None:
    """Refuse an input whose mel bins (F) differ from the checkpoint front end's ``n_mels`` (the time length may
    differ; a model given by name has no front end to match).

    Raises:
        ValueError: F differs from the front end's ``n_mels`` (both named).
    """
    n_mels = (loaded.frontend or {}).get("n_mels")
    if n_mels and int(input_size[1]) != int(n_mels):
        c, f, _ = input_size
        raise ValueError(f"{name}: input (C, F, T) = {tuple(input_size)} has F = {f} mel bins but the checkpoint's "
                         f"front end makes {n_mels}: give --input {c},{n_mels},T (T may differ)")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress lines and graph dumps (Python and C++ writes to stdout and stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def optimize_onnx_graph(proto: Any) -> Dict[str, int]:
    """Exact rewrites of an exported graph that let ONNX Runtime keep it in its blocked NCHWc layout, in place.

    - A ceil-mode ``AveragePool`` whose windows do not overlap (kernel = stride, no padding) becomes the same pool
      with ``auto_pad=SAME_UPPER`` and ``count_include_pad=0``: ``ceil(L / s)`` windows from 0, the last one
      partial and averaged over its real frames, as PyTorch's ceil mode, at every length (dynamic axes included).
      ORT runs a ceil-mode pool in a plain NCHW kernel, reordering the tensor out of its layout and back; the
      rewritten one it runs in place.
    - A ``ReduceMean`` over axes (2, 3) keeping them is a ``GlobalAveragePool``, which ORT runs in its layout.

    Returns:
        How many nodes each rewrite changed (``{"pool": n, "mean": n}``).
    """
    import onnx
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(proto)
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in list(inferred.graph.value_info)
             + list(inferred.graph.input) if v.type.tensor_type.HasField("shape")}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    done = {"pool": 0, "mean": 0}
    for node in proto.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "AveragePool" and "ceil_mode" in attrs and attrs["ceil_mode"].i == 1:
            kernel = list(attrs["kernel_shape"].ints)
            strides = list(attrs["strides"].ints) if "strides" in attrs else [1] * len(kernel)
            pads = list(attrs["pads"].ints) if "pads" in attrs else []
            auto = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
            if kernel != strides or any(pads) or auto not in ("NOTSET", "VALID"):
                continue
            for a in attrs.values():
                if a.name in ("ceil_mode", "count_include_pad", "pads", "auto_pad"):
                    node.attribute.remove(a)
            node.attribute.extend([onnx.helper.make_attribute("auto_pad", "SAME_UPPER"),
                                   onnx.helper.make_attribute("count_include_pad", 0)])
            done["pool"] += 1
        elif node.op_type == "ReduceMean":
            keep = attrs["keepdims"].i if "keepdims" in attrs else 1
            axes = consts.get(node.input[1]) if len(node.input) > 1 else (
                list(attrs["axes"].ints) if "axes" in attrs else None)
            if (axes is None or keep != 1 or sorted(int(a) for a in list(axes)) != [2, 3]
                    or ranks.get(node.input[0]) != 4):
                continue
            node.op_type = "GlobalAveragePool"
            del node.input[1:]
            del node.attribute[:]
            done["mean"] += 1
    used = _names_used(proto.graph) | {o.name for o in proto.graph.output}
    for init in [i for i in proto.graph.initializer if i.name not in used]:  # the means' axes
        proto.graph.initializer.remove(init)
    return done


def _names_used(graph: Any) -> set:
    """Every value name a node of ``graph`` or of its subgraphs reads."""
    used = set()
    for node in graph.node:
        used.update(node.input)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                used |= _names_used(sub)
    return used


# ---- fp16 option (--dtype fp16): weights stored in half precision, computed in float32 ----------------------------

FP16_ATOL = 1e-2
"""Logit tolerance of an fp16 export against the float32 PyTorch model (per unit of logit above 1)."""


def store_weights_fp16(proto: Any) -> int:
    """Store every float32 initializer of ``proto`` as float16, followed by a ``Cast`` back to float32, in place.

    The file holds half-precision weights (half the bytes); onnxruntime computes in float32 on the rounded weights
    (its CPU kernels for Conv have no float16 form on x86; the Casts of constants fold at session creation).

    Returns:
        The number of initializers converted.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    casts, kept = [], []
    for init in proto.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name=f"{init.name}__fp16")
        kept.append(half)
        casts.append(onnx.helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                           name=f"{init.name}__cast"))
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    nodes = casts + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return len(casts)


def model_metadata(loaded: LoadedModel, input_size: Sequence[int], with_frontend: bool,
                   fixed_length: bool = False) -> Dict[str, str]:
    """The ``metadata_props`` of an exported file: model name, front end, classes, input size and kind (JSON).

    ``fixed_length``: the file takes exactly ``T = input_size[2]`` frames, so the clip (the window ``lightops
    predict`` cuts) is the number of samples that gives ``T`` centred frames when the model's own clip does not.
    """
    frontend = loaded.front_end(n_mels=int(input_size[1]))
    clip = loaded.clip_samples()
    hop = frontend.logmel.hop_length
    if fixed_length and 1 + clip // hop != int(input_size[2]):
        clip = (int(input_size[2]) - 1) * hop
    return {"lightops.model": json.dumps(loaded.name or type(loaded.model).__name__),
            "lightops.frontend": json.dumps(frontend.config()),
            "lightops.classes": json.dumps(loaded.classes), "lightops.input_size": json.dumps(list(input_size)),
            "lightops.input": json.dumps("waveform" if with_frontend else "logmel"),
            "lightops.clip_samples": json.dumps(clip),
            "lightops.min_frames": json.dumps(getattr(loaded.model, "min_frames", None))}


def export_onnx(model_or_name: Union[nn.Module, str, os.PathLike, LoadedModel], out: Union[str, os.PathLike],
                input_size: Optional[Sequence[int]] = None, *, with_frontend: bool = False,
                opset: Optional[int] = None, exporter: str = "auto", atol: float = 1e-5, batch_size: int = 2,
                fuse_kwargs: Optional[Dict[str, Any]] = None, seed: int = 0, trusted: bool = False,
                static: bool = False, dtype: str = "fp32") -> ExportResult:
    """Export the fused model to ONNX with dynamic batch and time axes, check it, and write it atomically.

    The graph takes the log-mel in dB ``(B, C, F, T)`` as :class:`lightops.audio.LogMel` computes it (a
    checkpoint's input normalisation is inside the graph), or the waveform ``(B, samples)`` with
    ``with_frontend``; it returns the logits ``(B, num_classes)``.

    Args:
        model_or_name: an ``nn.Module``, a checkpoint path (:func:`lightops.checkpoint.load_model`) or a lightops
            model name (random weights: for format and latency work).
        out: the ``.onnx`` file to write.
        input_size: example log-mel ``(C, F, T)``; ``F`` is fixed in the graph, batch and ``T`` are dynamic
            (default: :meth:`LoadedModel.default_input_size`, e.g. ``(1, 256, 44)``).
        with_frontend: put the checkpoint's front end in the graph (log-mel and normalisation, ``n_mels = F``).
        opset: ONNX opset (None: the exporter's default); an exporter that writes another one counts as failed.
        exporter: ``"auto"`` (dynamo, then TorchScript), ``"dynamo"`` or ``"torchscript"``.
        atol: largest accepted logit difference between onnxruntime and PyTorch, per unit of the largest logit
            magnitude when that exceeds 1 (float32 rounding grows with the logits' scale).
        batch_size: batch of the parity checks.
        fuse_kwargs: options for :func:`lightops.deploy.fuse` (default ``channel_align=16`` here).
        seed: seed of the random check inputs.
        trusted: allow full unpickling of a checkpoint (:func:`lightops.checkpoint.read_checkpoint`).
        static: fix the time length to the example's (the batch stays dynamic): no shape arithmetic is left in the
            graph, for a deployment whose clip length is fixed (``lightops predict`` runs windows of the model's
            clip); a DSSDN's multi-scale pooling becomes constant weights
            (:class:`~lightops.models.dssdn_deploy.DeployDSSDN`).
        dtype: ``"fp32"``, or ``"fp16"``: weights stored in half precision and computed in float32
            (:func:`store_weights_fp16`), checked against the float32 model within ``max(atol, FP16_ATOL)``.

    The file carries ``metadata_props`` (:data:`~lightops.deploy.onnx_runtime.METADATA_KEYS`): the model name,
    front-end settings, class names, input size and input kind, which ``lightops predict`` reads.

    An int8 checkpoint from ``lightops quantize`` exports its own program as a QDQ file at its fixed ``(C, F, T)``
    (:func:`lightops.deploy.onnx_int8.export_int8_onnx`, which returns an
    :class:`~lightops.deploy.onnx_int8.Int8OnnxResult`).

    Returns:
        An :class:`ExportResult` (an ``Int8OnnxResult`` for an int8 checkpoint).

    Raises:
        ValueError: unknown model, bad or too small ``input_size`` (or its F not the checkpoint front end's
            ``n_mels``), bad option (a negative ``atol``, an ``opset`` outside 7 to onnx's newest).
        FileNotFoundError, PermissionError, IsADirectoryError: an unusable ``out`` or checkpoint path.
        RuntimeError: every exporter failed, or onnxruntime disagrees with PyTorch (nothing written).
        ImportError: onnx or onnxruntime is missing.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    check_int(batch_size, "export_onnx: batch_size", minimum=1)
    if dtype not in ("fp32", "fp16"):
        raise ValueError(f"export_onnx: dtype must be 'fp32' or 'fp16', got {dtype!r}")
    atol = check_float(atol, "export_onnx: atol", minimum=0.0)
    if exporter not in EXPORTERS:
        raise ValueError(f"export_onnx: exporter must be one of {EXPORTERS}, got {exporter!r}")
    if opset is not None:
        require_onnx()
        import onnx

        check_int(opset, "export_onnx: opset", minimum=7, maximum=onnx.defs.onnx_opset_version())
    atol = max(atol, FP16_ATOL) if dtype == "fp16" else atol
    path = check_output_path(out)
    loaded = resolve_model(model_or_name, trusted=trusted)
    if input_size is not None:
        check_export_input(loaded, input_size, "export_onnx")
    from .pt2e import is_quantized

    if is_quantized(loaded.model):  # lightops quantize's program: its own int8 weights, as QDQ
        from .onnx_int8 import export_int8_onnx

        size = tuple(loaded.model.input_size)
        if with_frontend or dtype != "fp32" or (input_size is not None and tuple(input_size) != size):
            raise ValueError(f"export_onnx: an int8 checkpoint exports as quantized, at its own input (C, F, T) = "
                             f"{size} and without the front end: drop with_frontend / dtype / input_size")
        if exporter == "torchscript":  # only torch.export takes the PT2E program
            raise ValueError("export_onnx: an int8 checkpoint exports with the dynamo exporter only (the TorchScript "
                             "exporter cannot take its quantized program): use exporter 'auto' or 'dynamo'")
        return export_int8_onnx(loaded, path, opset=opset, seed=seed, batch_size=batch_size)
    size = tuple(input_size) if input_size is not None else loaded.default_input_size()
    spec = export_spec(loaded, size, with_frontend=with_frontend, batch_size=batch_size, seed=seed, static=static)
    require_onnx()
    import onnx

    fuse_kwargs = {"channel_align": EXPORT_CHANNEL_ALIGN, **(fuse_kwargs or {})}
    net = deploy_module(loaded, with_frontend=with_frontend, n_mels=size[1], fuse_kwargs=fuse_kwargs,
                        export_size=tuple(size), fixed_length=static)
    reference = deploy_module(loaded, with_frontend=with_frontend, n_mels=size[1], fused=False)
    with atomic_path(path) as tmp:
        used, notes = write_onnx(net, tmp, spec, exporter=exporter, opset=opset)
        proto = onnx.load(tmp)
        optimize_onnx_graph(proto)
        notes += [f"fp16: {store_weights_fp16(proto)} initializers stored as float16, computed in float32"] \
            if dtype == "fp16" else []
        onnx.helper.set_model_props(proto, model_metadata(loaded, size, with_frontend))
        onnx.save(proto, tmp)
        onnx.checker.check_model(proto, full_check=True)
        opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        checks = onnx_parity(tmp, reference, spec.inputs)  # against the original model, unfused
        bad = [chk for chk in checks if not chk.within(atol)]
        if bad:
            raise RuntimeError(f"onnxruntime disagrees with PyTorch beyond atol={atol} (per unit of logit above 1): "
                               + ", ".join(f"{list(b.input_shape)}: {b.max_abs_diff:.3e} at |logit| <= "
                                           f"{b.max_abs_logit:.3g}" for b in bad))
        file_bytes = os.path.getsize(tmp)
    return ExportResult(path=path, exporter=used, opset=opset_used, input_name=spec.names[0],
                        output_name=spec.names[1], dynamic_axes={ax: n for ax, (n, _) in spec.axes.items()},
                        with_frontend=with_frontend, checks=tuple(checks), atol=atol, file_bytes=file_bytes,
                        notes=tuple(notes))
