"""ONNX export of a fused lightops model, checked with onnx and onnxruntime before it is written.

``export_onnx("dssdn_small", "small.onnx")`` (or ``lightops export dssdn_small --format onnx --out small.onnx``)
builds or loads the model, fuses it (:func:`lightops.deploy.fuse`), exports it with dynamic batch and time axes,
runs ``onnx.checker.check_model``, runs the file with onnxruntime on CPU at two time lengths and batch 2 and
compares the logits with PyTorch, and only then moves it to ``out``. The file is written to a temporary file in
the same directory and renamed with ``os.replace``, so a failure at any step leaves nothing at ``out``.

Exporter: ``torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`` first; the TorchScript-based exporter
(``dynamo=False, dynamic_axes=...``) is the fallback, and the result says which one wrote the file and why the
first failed. DSSDN's multi-scale fusion pools every block's output to the last block's grid with
``adaptive_avg_pool2d``; its decomposition picks a kernel for the time length it is traced at, which would be
wrong at other lengths. During export the fusion runs through :func:`exportable_fuse_scales`, the same
average computed from cumulative sums with window bounds derived from the symbolic lengths.

Checkpoints: a file written by ``torch.save({"model": name, "model_kwargs": {...}, "state_dict": ...})`` with
``name`` a lightops model (``lightops.list_models()``), ``model_kwargs`` the keyword arguments of
``lightops.create_model`` as plain values (a ``DSSDNCfg`` as ``cfg.to_dict()``), and ``state_dict`` the model's
(``module.`` prefixes from DistributedDataParallel are stripped). See :func:`load_checkpoint`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .._factory import create_model, list_models
from .fuse import fuse

__all__ = [
    "export_onnx", "ExportResult", "ParityCheck", "LoadedModel", "load_checkpoint", "read_checkpoint",
    "resolve_model", "deploy_module", "frontend_for", "default_input_size", "InputNorm", "WithFrontend",
    "ExportSpec", "export_spec", "write_onnx", "atomic_path", "onnx_parity", "exportable_fuse_scales",
    "export_patches", "check_output_path", "check_input_size", "add_export_arguments", "main_export",
    "DEFAULT_INPUT_SIZE", "CHECKPOINT_KEYS",
]

DEFAULT_INPUT_SIZE = (1, 256, 44)  # (C, F, T): a 1-s clip of the default front end
CHECKPOINT_KEYS = ("model", "model_kwargs", "state_dict")
EXPORTERS = ("auto", "dynamo", "torchscript")
_MAX_TIME = 1 << 20  # upper bound of the dynamic time axis (frames, or samples with the front end)
_MAX_BATCH = 1 << 16


# ---- model resolution --------------------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """A model to deploy and what its input expects.

    Attributes:
        model: the network, eval mode.
        frontend: the log-mel settings it was trained with (a training checkpoint's ``frontend``: sample_rate,
            n_fft, hop_length, n_mels, mean, std), or None (the model's ``pretrained_cfg`` defaults, no
            normalisation).
        input_size: ``(C, F, T)`` it was trained on, when known.
        source: where it came from (model name or checkpoint path).
    """

    model: nn.Module
    frontend: Optional[Dict[str, Any]] = None
    input_size: Optional[Tuple[int, int, int]] = None
    source: str = ""

    @property
    def norm(self) -> Tuple[float, float]:
        """``(mean, std)`` of the input normalisation in dB (``(0, 1)``: none)."""
        fe = self.frontend or {}
        return float(fe.get("mean", 0.0)), float(fe.get("std", 1.0))


def _safe_globals() -> List[Any]:
    """Plain-data classes a training checkpoint holds besides tensors (numpy RNG states, ``torch.__version__``),
    allowed under ``torch.load(weights_only=True)``."""
    import numpy as np
    from torch.torch_version import TorchVersion

    core = getattr(np, "_core", None) or np.core
    extra = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")] if hasattr(np, "dtypes") else []
    return [np.ndarray, np.dtype, core.multiarray._reconstruct, TorchVersion, *extra]


def read_checkpoint(path: Union[str, os.PathLike], *, trusted: bool = False) -> Dict[str, Any]:
    """Read a checkpoint dict with ``torch.load(weights_only=True)`` (numpy arrays allowed, for RNG states).

    Args:
        path: the file.
        trusted: fall back to full unpickling (``weights_only=False``) when the file holds other objects;
            only for files you trust.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, not a dict with ``model`` and ``state_dict``, or holding objects that need
            ``trusted=True``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist (or is not a file)")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and unpickler errors all mean the same to the user
        if not trusted:
            try:
                allowed = {f"{g.__module__}.{g.__qualname__}" for g in _safe_globals()}
                unsafe = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]
                why = f"it holds objects other than tensors and plain data: {unsafe}" if unsafe else \
                    str(e).strip().splitlines()[0]
            except Exception:  # not a zip checkpoint at all
                why = str(e).strip().splitlines()[0]
            raise ValueError(f"checkpoint {path!r} could not be read with torch.load(weights_only=True): {why}; "
                             f"if you trust the file, pass trusted=True (--trust-checkpoint)") from e
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e2:
            raise ValueError(f"checkpoint {path!r} could not be read: {e2}") from e2
    if not isinstance(ckpt, dict) or "model" not in ckpt or "state_dict" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"checkpoint {path!r}: expected a dict with keys {list(CHECKPOINT_KEYS)} "
                         f"(model_kwargs optional), got {found}")
    return ckpt


def load_checkpoint(path: Union[str, os.PathLike], *, trusted: bool = False) -> LoadedModel:
    """Build the model a checkpoint describes and load its weights.

    The checkpoint is a dict saved with ``torch.save``: ``"model"`` (a lightops model name), ``"model_kwargs"``
    (a dict of :func:`lightops.create_model` keyword arguments; optional; a ``"cfg"`` given as
    ``DSSDNCfg.to_dict()`` is converted back) and ``"state_dict"`` (``module.`` prefixes are stripped).
    Optional: ``"frontend"`` (the log-mel settings and input normalisation ``mean``/``std`` in dB, as
    ``lightops.train`` writes them) and ``"input_size"`` (``[C, F, T]``). Other keys (optimizer, RNG states,
    history) are ignored.

    Args:
        path: the checkpoint file.
        trusted: see :func:`read_checkpoint`.

    Returns:
        A :class:`LoadedModel` (the model in eval mode).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this format, an unknown model name, or weights that do not fit.
    """
    ckpt = read_checkpoint(path, trusted=trusted)
    name, kwargs = ckpt["model"], dict(ckpt.get("model_kwargs") or {})
    if isinstance(kwargs.get("cfg"), dict):
        from ..models import DSSDNCfg

        kwargs["cfg"] = DSSDNCfg.from_dict(kwargs["cfg"])
    try:
        model = create_model(name, **kwargs)
    except TypeError as e:
        raise ValueError(f"checkpoint {os.fspath(path)!r}: model {name!r} rejected model_kwargs {kwargs}: {e}") from e
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in ckpt["state_dict"].items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"checkpoint {os.fspath(path)!r}: state_dict does not fit {name} with "
                         f"model_kwargs={kwargs}: {e}") from e
    size = ckpt.get("input_size")
    frontend = ckpt.get("frontend") if isinstance(ckpt.get("frontend"), dict) else None
    return LoadedModel(model.eval(), frontend, tuple(int(v) for v in size) if size else None, os.fspath(path))


def resolve_model(model_or_name: Union[nn.Module, str, os.PathLike, LoadedModel], *,
                  trusted: bool = False) -> LoadedModel:
    """A model from a module, a checkpoint path or a lightops model name (random weights).

    Raises:
        FileNotFoundError: a path-like argument (with a directory part or a ``.pt``/``.pth``/``.ckpt`` suffix)
            that does not exist.
        ValueError: neither an existing file nor a lightops model name.
    """
    if isinstance(model_or_name, LoadedModel):
        return model_or_name
    if isinstance(model_or_name, nn.Module):
        return LoadedModel(model_or_name.eval(), source=type(model_or_name).__name__)
    if not isinstance(model_or_name, (str, os.PathLike)):
        raise TypeError(f"expected an nn.Module, a checkpoint path or a model name, got {type(model_or_name).__name__}")
    text = os.fspath(model_or_name)
    if os.path.isfile(text):
        return load_checkpoint(text, trusted=trusted)
    if text in list_models():
        return LoadedModel(create_model(text).eval(), source=text)
    if os.sep in text or text.endswith((".pt", ".pth", ".ckpt", ".bin")):
        raise FileNotFoundError(f"checkpoint {text!r} does not exist")
    raise ValueError(f"unknown model {text!r}: not a checkpoint file and not one of {list_models()}")


class InputNorm(nn.Module):
    """``(x - mean) / std``: the input normalisation a model was trained with, kept in the deployed graph."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"InputNorm: std must be > 0, got {std!r}")
        self.mean, self.std = float(mean), float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape as ``x``."""
        return (x - self.mean) / self.std


def deploy_module(loaded: LoadedModel, *, with_frontend: bool = False, n_mels: Optional[int] = None,
                  fused: bool = True, fuse_kwargs: Optional[Dict[str, Any]] = None) -> nn.Module:
    """The module to deploy: [log-mel front end], [input normalisation], the (fused) model; eval mode.

    Args:
        loaded: from :func:`resolve_model`.
        with_frontend: start from the waveform ``(B, samples)``.
        n_mels: mel bins of the front end (default: the checkpoint's, else the model's ``pretrained_cfg``).
        fused: apply :func:`lightops.deploy.fuse` to the model.
        fuse_kwargs: its options.
    """
    kwargs = {"time_pool": False, **(fuse_kwargs or {})}  # its parity branch would fix the time length
    net = fuse(loaded.model, **kwargs) if fused else loaded.model
    mean, std = loaded.norm
    if (mean, std) != (0.0, 1.0):
        net = nn.Sequential(InputNorm(mean, std), net)
    if with_frontend:
        net = WithFrontend(frontend_for(loaded, n_mels), net)
    return net.eval()


def frontend_for(loaded: LoadedModel, n_mels: Optional[int] = None) -> nn.Module:
    """The :class:`lightops.stems.LogMel` the model expects (checkpoint settings, else ``pretrained_cfg``)."""
    from ..audio import LogMel

    cfg = dict(getattr(loaded.model, "pretrained_cfg", {}) or {})
    cfg.update(loaded.frontend or {})
    return LogMel(sample_rate=int(cfg.get("sample_rate", 44100)), n_fft=int(cfg.get("n_fft", 4096)),
                  hop_length=int(cfg.get("hop_length", 1024)), n_mels=int(n_mels or cfg.get("n_mels", 256))).eval()


def default_input_size(loaded: LoadedModel) -> Tuple[int, int, int]:
    """The checkpoint's ``input_size``, else ``(in_chans, n_mels, 44)`` (a 1-s clip of the front end)."""
    if loaded.input_size:
        return loaded.input_size
    n_mels = (loaded.frontend or {}).get("n_mels") or (getattr(loaded.model, "pretrained_cfg", {}) or {}).get(
        "n_mels", DEFAULT_INPUT_SIZE[1])
    return getattr(loaded.model, "in_chans", 1), int(n_mels), DEFAULT_INPUT_SIZE[2]


# ---- argument checks ---------------------------------------------------------------------------------------------

def check_output_path(out: Union[str, os.PathLike]) -> str:
    """The absolute output path, after checking that its directory exists and is writable.

    Raises:
        IsADirectoryError: ``out`` is a directory.
        FileNotFoundError: its directory does not exist.
        PermissionError: its directory is not writable.
    """
    path = os.path.abspath(os.fspath(out))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"output path {path!r} is a directory; give a file name such as model.onnx")
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output directory {parent!r} does not exist or is not a directory "
                                f"(output path {path!r})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory {parent!r} is not writable (output path {path!r})")
    return path


def check_input_size(model: nn.Module, input_size: Sequence[int]) -> Tuple[int, int, int]:
    """``(C, F, T)`` as ints, checked against the model's channels and ``min_bins`` / ``min_frames``.

    Raises:
        ValueError: not three positive ints, or smaller than the model accepts.
    """
    size = tuple(input_size)
    if len(size) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size):
        raise ValueError(f"input_size must be (C, F, T) as three positive ints, got {input_size!r}")
    c, f, t = size
    in_chans = getattr(model, "in_chans", c)
    min_bins, min_frames = getattr(model, "min_bins", 1), getattr(model, "min_frames", 1)
    if c != in_chans:
        raise ValueError(f"input_size has C={c} channels, the model expects in_chans={in_chans}")
    if f < min_bins or t < min_frames:
        raise ValueError(f"input_size (C, F, T) = {size} is too small for this model: it needs F >= {min_bins} "
                         f"mel bins and T >= {min_frames} frames")
    return c, f, t


# ---- export-friendly rewrites ------------------------------------------------------------------------------------

def _adaptive_avg(x: torch.Tensor, dim: int, out_len: int) -> torch.Tensor:
    """``adaptive_avg_pool`` of one axis of ``x`` to ``out_len`` bins, from cumulative sums.

    Window ``i`` is ``[floor(i L / n), ceil((i + 1) L / n))``, as in PyTorch; the bounds are tensors computed
    from the (symbolic) lengths, so an exported graph is right at every length.
    """
    length = x.shape[dim]
    i = torch.arange(out_len, device=x.device)
    start = torch.div(i * length, out_len, rounding_mode="floor")
    end = torch.div((i + 1) * length + out_len - 1, out_len, rounding_mode="floor")
    csum = torch.cumsum(x, dim=dim)
    csum = torch.cat([torch.zeros_like(csum.narrow(dim, 0, 1)), csum], dim=dim)  # [..., j] = sum of the first j
    total = csum.index_select(dim, end) - csum.index_select(dim, start)  # n bins along dim
    shape = [1] * x.dim()
    shape[dim] = -1
    return total / (end - start).to(x.dtype).reshape(shape)


@torch.fx.wrap
def exportable_fuse_scales(feats: List[torch.Tensor]) -> torch.Tensor:
    """DSSDN's multi-scale fusion (every block output average-pooled to the last one's grid, concatenated),
    written so that an export with a dynamic time axis stays exact at every length.

    Equal to ``adaptive_avg_pool2d`` (its windows are separable), up to float rounding.
    """
    last = feats[-1]
    pooled = [_adaptive_avg(_adaptive_avg(f, 2, last.shape[2]), 3, last.shape[3]) for f in feats[:-1]]
    return torch.cat(pooled + [last], dim=1)


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """While active, DSSDN models fuse scales with :func:`exportable_fuse_scales` (not thread-safe)."""
    from ..models import dssdn

    original = dssdn._fuse_scales
    dssdn._fuse_scales = exportable_fuse_scales
    try:
        yield
    finally:
        dssdn._fuse_scales = original


class WithFrontend(nn.Module):
    """Waveform to logits: a log-mel front end, then the model.

    Shape:
        ``(B, samples) -> (B, num_classes)``.
    """

    def __init__(self, frontend: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, samples) -> (B, num_classes)``."""
        return self.model(self.frontend(x))


# ---- results -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParityCheck:
    """One onnxruntime run compared with PyTorch: the input shape and the largest absolute logit difference."""

    input_shape: Tuple[int, ...]
    max_abs_diff: float


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
                 f"onnxruntime vs PyTorch, max abs diff (<= {self.atol:g}): {checks}"]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


# ---- export ------------------------------------------------------------------------------------------------------

def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ImportError(f"ONNX export needs the onnx and onnxruntime packages ({e}); install them with "
                          f"pip install 'lightops[export]'") from e


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
        torch.onnx.export(net, (example,), path, dynamo=False, input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes={names[0]: {ax: name for ax, (name, _) in axes.items()},
                                        names[1]: {0: axes[0][0]}}, **kwargs)


def onnx_parity(path: str, reference: nn.Module, inputs: Sequence[torch.Tensor], threads: int = 1) -> List[ParityCheck]:
    """Run the ONNX file with onnxruntime (CPU) on each input and compare with ``reference`` in PyTorch."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    checks = []
    for x in inputs:
        with torch.inference_mode():
            ref = reference(x).float()
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        if got.shape != ref.shape:
            raise RuntimeError(f"onnxruntime returned shape {list(got.shape)} for input {list(x.shape)}, PyTorch "
                               f"{list(ref.shape)}")
        checks.append(ParityCheck(tuple(x.shape), float((got - ref).abs().max())))
    return checks


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
                batch_size: int = 2, seed: int = 0) -> ExportSpec:
    """Example input, dynamic axes and two check inputs (the example's length and a longer one) for an export."""
    c, f, t = check_input_size(loaded.model, input_size)
    min_frames = getattr(loaded.model, "min_frames", 1)
    gen = torch.Generator().manual_seed(seed)
    lengths = _check_lengths(t, min_frames)
    if with_frontend:
        hop = frontend_for(loaded, f).hop_length
        samples = [(n - 1) * hop for n in lengths]  # centred frames: T = 1 + samples // hop
        inputs = tuple(0.1 * torch.randn(batch_size, n, generator=gen) for n in samples)
        axes = {0: ("batch", 1), 1: ("samples", max(1, (min_frames - 1) * hop))}
        return ExportSpec(inputs[0].clone(), inputs, axes, ("waveform", "logits"))
    mean, std = loaded.norm  # inputs at the scale the model was trained on, in the graph's input units
    inputs = tuple(mean + std * torch.randn(batch_size, c, f, n, generator=gen) for n in lengths)
    return ExportSpec(inputs[0].clone(), inputs, {0: ("batch", 1), 3: ("time", min_frames)}, ("logmel", "logits"))


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
            with export_patches(), _quiet():
                fn = _export_dynamo if name == "dynamo" else _export_torchscript
                fn(net, spec.example, path, opset, spec.axes, spec.names)
            return name, notes
        except Exception as e:  # every exporter error is reported, then the next exporter is tried
            notes.append(f"{name} exporter failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300]}")
    raise RuntimeError("ONNX export failed; " + "; ".join(notes))


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


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary file next to ``path``, moved onto it with ``os.replace`` when the block succeeds, else removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def export_onnx(model_or_name: Union[nn.Module, str, os.PathLike, LoadedModel], out: Union[str, os.PathLike],
                input_size: Optional[Sequence[int]] = None, *, with_frontend: bool = False,
                opset: Optional[int] = None, exporter: str = "auto", atol: float = 1e-4, batch_size: int = 2,
                fuse_kwargs: Optional[Dict[str, Any]] = None, seed: int = 0, trusted: bool = False) -> ExportResult:
    """Export the fused model to ONNX with dynamic batch and time axes, check it, and write it atomically.

    The graph takes the log-mel in dB ``(B, C, F, T)`` as :class:`lightops.stems.LogMel` computes it (a
    checkpoint's input normalisation is inside the graph), or the waveform ``(B, samples)`` with
    ``with_frontend``; it returns the logits ``(B, num_classes)``.

    Args:
        model_or_name: an ``nn.Module``, a checkpoint path (:func:`load_checkpoint`) or a lightops model name
            (random weights: for format and latency work).
        out: the ``.onnx`` file to write.
        input_size: example log-mel ``(C, F, T)``; ``F`` is fixed in the graph, batch and ``T`` are dynamic
            (default: :func:`default_input_size`, e.g. ``(1, 256, 44)``).
        with_frontend: put the log-mel front end in the graph (:func:`frontend_for`, ``n_mels = F``).
        opset: ONNX opset (None: the exporter's default).
        exporter: ``"auto"`` (dynamo, then TorchScript), ``"dynamo"`` or ``"torchscript"``.
        atol: largest accepted absolute logit difference between onnxruntime and PyTorch.
        batch_size: batch of the parity checks.
        fuse_kwargs: options for :func:`lightops.deploy.fuse`.
        seed: seed of the random check inputs.
        trusted: allow full unpickling of a checkpoint (:func:`read_checkpoint`).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ValueError: unknown model, bad or too small ``input_size``, bad option.
        FileNotFoundError, PermissionError, IsADirectoryError: an unusable ``out`` or checkpoint path.
        RuntimeError: every exporter failed, or onnxruntime disagrees with PyTorch (nothing written).
        ImportError: onnx or onnxruntime is missing.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    path = check_output_path(out)
    loaded = resolve_model(model_or_name, trusted=trusted)
    size = tuple(input_size) if input_size is not None else default_input_size(loaded)
    spec = export_spec(loaded, size, with_frontend=with_frontend, batch_size=batch_size, seed=seed)
    _require_onnx()
    import onnx

    net = deploy_module(loaded, with_frontend=with_frontend, n_mels=size[1], fuse_kwargs=fuse_kwargs)
    reference = deploy_module(loaded, with_frontend=with_frontend, n_mels=size[1], fused=False)
    with atomic_path(path) as tmp:
        used, notes = write_onnx(net, tmp, spec, exporter=exporter, opset=opset)
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto, full_check=True)
        opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        checks = onnx_parity(tmp, reference, spec.inputs)  # against the original model, unfused and unpatched
        bad = [chk for chk in checks if not chk.max_abs_diff <= atol]
        if bad:
            raise RuntimeError(f"onnxruntime disagrees with PyTorch beyond atol={atol}: "
                               + ", ".join(f"{list(b.input_shape)}: {b.max_abs_diff:.3e}" for b in bad))
        file_bytes = os.path.getsize(tmp)
    return ExportResult(path=path, exporter=used, opset=opset_used, input_name=spec.names[0],
                        output_name=spec.names[1], dynamic_axes={ax: n for ax, (n, _) in spec.axes.items()},
                        with_frontend=with_frontend, checks=tuple(checks), atol=atol, file_bytes=file_bytes,
                        notes=tuple(notes))


# ---- command line ------------------------------------------------------------------------------------------------

def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops export`` arguments to ``parser`` (a subcommand's parser)."""
    parser.add_argument("model", help="lightops model name (random weights) or checkpoint file "
                                      "({'model', 'model_kwargs', 'state_dict'})")
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="output format (onnx)")
    parser.add_argument("--out", required=True, help="output file, written atomically")
    from ..cli._args import parse_size  # moves to lightops/cli/export.py with the export arguments

    parser.add_argument("--input", type=parse_size, default=None,
                        help="example log-mel input C,F,T (default: the checkpoint's, else 1,256,44); batch and T "
                             "are dynamic, F is fixed")
    parser.add_argument("--with-frontend", action="store_true",
                        help="include the log-mel front end: the graph takes a waveform (B, samples)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto",
                        help="torch.onnx exporter: dynamo, torchscript, or auto (dynamo, then torchscript)")
    parser.add_argument("--atol", type=float, default=1e-4, help="onnxruntime vs PyTorch tolerance (1e-4)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow full unpickling of a checkpoint holding more than tensors and numpy arrays")
    return parser


def main_export(args: Union[argparse.Namespace, Sequence[str], None] = None) -> int:
    """Run ``lightops export`` from parsed arguments (or an argv list); print the summary, return the exit code.

    Errors are printed as one line on stderr with exit code 2 (bad input) or 1 (export or check failed).
    """
    if not isinstance(args, argparse.Namespace):
        parser = add_export_arguments(argparse.ArgumentParser(prog="lightops export",
                                                              description="Export a fused model to ONNX."))
        args = parser.parse_args(args)
    try:
        result = export_onnx(args.model, args.out, args.input, with_frontend=args.with_frontend, opset=args.opset,
                             exporter=args.exporter, atol=args.atol, trusted=args.trust_checkpoint)
    except (ValueError, OSError, TypeError) as e:
        print(f"lightops export: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, ImportError) as e:
        print(f"lightops export: failed: {e}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main_export())
