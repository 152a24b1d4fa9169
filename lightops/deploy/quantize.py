"""int8 post-training static quantization of a fused lightops model, with onnxruntime.

``quantize_int8("dssdn_small", "small.int8.onnx")`` exports the fused model to ONNX (:func:`export_onnx`, with its
checks), calibrates activation ranges on a few batches of log-mel inputs, and writes a QDQ model with per-channel
int8 weights and uint8 activations (``onnxruntime.quantization.quantize_static``), then measures how often its top-1
class agrees with the fp32 model. Why onnxruntime rather than PT2E (``torch.export`` + ``X86InductorQuantizer``),
with the measurements, is in docs/deploy.md: on this CPU the PT2E model is only fast after ``torch.compile``
(minutes of compilation and a C++ compiler), and still slower than onnxruntime.

Calibration data (``calibration=``):

- ``"synthetic"``: clips of :class:`lightops.data.SyntheticScenes` (training split) through the model's log-mel
  front end (the checkpoint's :class:`~lightops.audio.LogMel` settings);
- ``"random"``: structured log-mel-like tensors (a smooth random spectral envelope, slow amplitude modulation and
  noise, at the level and spread of real log-mels), needing no data;
- any iterable of ``(B, C, F, T)`` tensors, in the graph's input units (log-mel in dB).

With a trained model, :func:`evaluate_int8` gives the accuracy change on the synthetic evaluation split.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from ..checkpoint import LoadedModel, resolve_model
from ..fileio import atomic_path, check_output_path
from ..validation import check_model_input_size
from .export import ExportResult, export_onnx
from .module import deploy_module
from .onnx_runtime import ort_session
from .onnx_runtime import run_session as _run

__all__ = [
    "quantize_int8", "quantize_onnx", "QuantizeResult", "Agreement", "Int8Evaluation", "int8_agreement",
    "evaluate_int8", "calibration_inputs", "synthetic_logmels", "random_logmels", "ort_session",
    "CALIBRATION_SOURCES", "DEFAULT_OP_TYPES",
]

CALIBRATION_SOURCES = ("synthetic", "random")
DEFAULT_OP_TYPES: Optional[Tuple[str, ...]] = ("Conv", "Gemm")
"""Operators quantized by default: the convolutions and the classifier (docs/deploy.md compares with all ops)."""

Calibration = Union[str, Iterable[torch.Tensor]]


# ---- calibration data --------------------------------------------------------------------------------------------

def synthetic_logmels(loaded: LoadedModel, input_size: Sequence[int], num_clips: int, *, split: str = "train",
                      seed: int = 0, with_labels: bool = False
                      ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
    """Log-mels ``(N, C, F, T)`` in dB of synthetic scenes, through the model's front end (``n_mels = F``).

    Args:
        loaded: the model and its front-end settings.
        input_size: ``(C, F, T)``; clips are rendered long enough for ``T`` frames (1 s for 44, 10 s for 431) and
            cut to ``T``.
        num_clips: clips to render.
        split: ``"train"`` (calibration) or ``"evaluate"`` (held-out checks).
        seed: data set seed.
        with_labels: also return the labels ``(N,)``.
    """
    from ..data import SyntheticScenes

    c, f, t = (int(v) for v in input_size)
    frontend = loaded.front_end(n_mels=f).logmel  # log-mel in dB: the graph normalises inside
    # clips of a round length (tenths of a second, 1 s for T = 44, 10 s for T = 431) that give at least T frames
    seconds = math.ceil(10 * (t - 1) * frontend.hop_length / frontend.sample_rate - 1e-9) / 10
    data = SyntheticScenes(split, num_clips=num_clips, clip_seconds=max(seconds, 0.1),
                           sample_rate=frontend.sample_rate, seed=seed)
    clips = [data[i] for i in range(num_clips)]
    wave = torch.stack([clip.waveform for clip in clips])  # (N, samples)
    with torch.inference_mode():
        mel = frontend(wave)[..., :t]  # (N, 1, F, >= T) -> (N, 1, F, T)
    mel = mel.expand(-1, c, -1, -1).contiguous() if c != 1 else mel.contiguous()
    if with_labels:
        return mel, torch.tensor([clip.label for clip in clips])
    return mel


def random_logmels(shape: Sequence[int], *, mean: float = -20.0, std: float = 12.0, seed: int = 0) -> torch.Tensor:
    """Structured log-mel-like tensors ``(B, C, F, T)``: smooth spectral envelope, slow modulation, noise.

    Each item's envelope is a random walk over mel bins smoothed to a few bands; its level drifts slowly in time;
    small noise is added; the result is scaled to ``mean`` and ``std`` (dB).
    """
    b, c, f, t = (int(v) for v in shape)
    gen = torch.Generator().manual_seed(seed)
    envelope = torch.cumsum(torch.randn(b, c, f, 1, generator=gen), dim=2) / math.sqrt(max(f, 1) / 8)  # (B,C,F,1)
    tilt = torch.linspace(0.0, -1.5, f).reshape(1, 1, f, 1) * torch.rand(b, 1, 1, 1, generator=gen)
    drift = torch.cumsum(torch.randn(b, c, 1, t, generator=gen), dim=3) / math.sqrt(max(t, 1) / 4)  # (B,C,1,T)
    x = envelope + tilt + 0.3 * drift + 0.5 * torch.randn(b, c, f, t, generator=gen)
    x = (x - x.mean()) / x.std().clamp_min(1e-6)
    return mean + std * x


def calibration_inputs(source: Calibration, loaded: LoadedModel, input_size: Sequence[int], *,
                       num_batches: int = 8, batch_size: int = 8, seed: int = 0) -> List[torch.Tensor]:
    """Batches of log-mel inputs (graph input units, dB) to calibrate activation ranges.

    Args:
        source: ``"synthetic"``, ``"random"`` or an iterable of ``(B, C, F, T)`` tensors (used as given).
        loaded: the model and its front-end settings.
        input_size: ``(C, F, T)`` of each item.
        num_batches: batches to produce.
        batch_size: items per batch.
        seed: seed of the data.
    """
    if not isinstance(source, str):
        batches = [torch.as_tensor(x, dtype=torch.float32) for x in source]
        if not batches or any(x.dim() != 4 for x in batches):
            raise ValueError("calibration: expected a non-empty iterable of (B, C, F, T) tensors")
        return batches
    if source not in CALIBRATION_SOURCES:
        raise ValueError(f"calibration must be one of {CALIBRATION_SOURCES} or an iterable of tensors, got {source!r}")
    c, f, t = (int(v) for v in input_size)
    if source == "synthetic":
        mel = synthetic_logmels(loaded, (c, f, t), num_batches * batch_size, seed=seed)
        return list(mel.split(batch_size))
    fe = loaded.frontend or {}
    mean, std = float(fe.get("mean", -20.0)), float(fe.get("std", 12.0))
    return [random_logmels((batch_size, c, f, t), mean=mean, std=std, seed=seed + i) for i in range(num_batches)]


# ---- onnxruntime helpers -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """fp32 against int8 on the same inputs.

    Attributes:
        n: inputs compared.
        top1: fraction with the same top-1 class.
        max_abs_err: largest absolute logit difference.
        mean_abs_err: mean absolute logit difference.
        logit_scale: largest absolute fp32 logit (to read the errors against).
    """

    n: int
    top1: float
    max_abs_err: float
    mean_abs_err: float
    logit_scale: float


def int8_agreement(fp32: Union[str, nn.Module], int8_path: str, inputs: Iterable[torch.Tensor]) -> Agreement:
    """Top-1 agreement and logit errors of the int8 ONNX model against ``fp32`` (an ONNX path or a module)."""
    batches = list(inputs)
    if isinstance(fp32, nn.Module):
        with torch.inference_mode():
            ref = torch.cat([fp32(x) for x in batches]).numpy()
    else:
        ref = _run(ort_session(fp32), batches)
    got = _run(ort_session(int8_path), batches)
    err = np.abs(ref - got)
    return Agreement(n=len(ref), top1=float((ref.argmax(1) == got.argmax(1)).mean()), max_abs_err=float(err.max()),
                     mean_abs_err=float(err.mean()), logit_scale=float(np.abs(ref).max()))


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader`` over a list of batches."""

    def __init__(self, name: str, batches: Sequence[torch.Tensor]) -> None:
        self.name = name
        self.batches = [np.ascontiguousarray(x.numpy()) for x in batches]
        self.pos = 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return {self.name: self.batches[self.pos - 1]}

    def rewind(self) -> None:
        self.pos = 0


def quantize_onnx(fp32_path: str, out: str, calibration: Sequence[torch.Tensor], *, per_channel: bool = True,
                  op_types: Optional[Sequence[str]] = DEFAULT_OP_TYPES, calibrate_method: str = "minmax",
                  reduce_range: bool = True) -> None:
    """Static int8 quantization of an ONNX file (QDQ, int8 per-channel weights, uint8 activations), atomic.

    Args:
        fp32_path: the float model.
        out: the int8 model to write.
        calibration: input batches for the activation ranges.
        per_channel: one weight scale per output channel.
        op_types: ONNX operator types to quantize (None: every supported one).
        calibrate_method: ``"minmax"``, ``"entropy"`` or ``"percentile"``.
        reduce_range: 7-bit weights (int8 storage). On x86 CPUs without VNNI, ONNX Runtime's uint8 x int8
            kernels add pairs of products in int16 (``vpmaddubsw``), which saturates for 8-bit weights and
            costs top-1 agreement (a random dssdn_small: 69 % there, 89 % on a VNNI CPU); with 7-bit weights a
            pair fits (2 * 255 * 63 < 2**15) and the file gives the same logits on every x86 CPU (86 %).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if calibrate_method not in methods:
        raise ValueError(f"calibrate_method must be one of {sorted(methods)}, got {calibrate_method!r}")
    path = check_output_path(out)
    name = onnx.load(fp32_path, load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as work, atomic_path(path) as tmp:
        pre = os.path.join(work, "pre.onnx")
        quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)  # symbolic shapes: not with a dynamic T
        quantize_static(pre, tmp, _Reader(name, calibration), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(op_types) if op_types else None,
                        calibrate_method=methods[calibrate_method], reduce_range=reduce_range)
        onnx.checker.check_model(tmp, full_check=True)


# ---- the entry points --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuantizeResult:
    """What :func:`quantize_int8` wrote and measured.

    Attributes:
        int8_path: the int8 ONNX file.
        fp32_path: the fp32 ONNX file it was quantized from (None when it was a temporary file).
        export: the fp32 export's checks.
        int8_bytes, fp32_bytes: file sizes.
        calibration: the calibration source (``"synthetic"``, ``"random"`` or ``"custom"``) and batch count.
        agreement: int8 against the fp32 model on held-out inputs.
        seconds: time spent calibrating and quantizing.
    """

    int8_path: str
    fp32_path: Optional[str]
    export: ExportResult
    int8_bytes: int
    fp32_bytes: int
    calibration: str
    agreement: Agreement
    seconds: float

    def summary(self) -> str:
        """A few lines for the command line."""
        a = self.agreement
        return (f"wrote {self.int8_path} ({self.int8_bytes / 1e6:.2f} MB; fp32 {self.fp32_bytes / 1e6:.2f} MB), "
                f"calibrated on {self.calibration} in {self.seconds:.1f} s\n"
                f"int8 vs fp32 on {a.n} held-out inputs: top-1 agreement {100 * a.top1:.1f} %, max logit error "
                f"{a.max_abs_err:.3g} (mean {a.mean_abs_err:.3g}, largest logit {a.logit_scale:.3g})")


def quantize_int8(model_or_name: Union[nn.Module, str, os.PathLike, LoadedModel], out: Union[str, os.PathLike],
                  input_size: Optional[Sequence[int]] = None, *, calibration: Calibration = "synthetic",
                  num_batches: int = 8, batch_size: int = 8, check_inputs: Optional[Iterable[torch.Tensor]] = None,
                  fp32_out: Optional[Union[str, os.PathLike]] = None,
                  op_types: Optional[Sequence[str]] = DEFAULT_OP_TYPES, per_channel: bool = True,
                  calibrate_method: str = "minmax", reduce_range: bool = True, exporter: str = "auto",
                  trusted: bool = False) -> QuantizeResult:
    """Export the fused model to ONNX, quantize it to int8 (static, QDQ, per-channel) and measure agreement.

    Args:
        model_or_name: module, checkpoint path or model name (as :func:`export_onnx`).
        out: the int8 ``.onnx`` file (written atomically).
        input_size: ``(C, F, T)`` of the export and of the calibration items (default: the checkpoint's or
            ``(1, 256, 44)``).
        calibration: ``"synthetic"``, ``"random"`` or an iterable of log-mel batches (dB).
        num_batches: number of calibration batches for the named sources.
        batch_size: clips per calibration batch for the named sources.
        check_inputs: held-out batches for the agreement (default: 64 synthetic evaluation clips for
            ``"synthetic"``, 64 other random ones otherwise).
        fp32_out: also keep the fp32 ONNX file here (default: a temporary file).
        op_types: ONNX operator types to quantize (None: all supported).
        per_channel: per-channel weight scales.
        calibrate_method: ``"minmax"``, ``"entropy"`` or ``"percentile"``.
        reduce_range: 7-bit weights, so that x86 CPUs without VNNI do not saturate (:func:`quantize_onnx`).
        exporter: as :func:`export_onnx`.
        trusted: as :func:`export_onnx`.

    Returns:
        A :class:`QuantizeResult`.
    """
    path = check_output_path(out)
    loaded = resolve_model(model_or_name, trusted=trusted)
    size = tuple(input_size) if input_size is not None else loaded.default_input_size()
    check_model_input_size(loaded.model, size, "quantize_int8")
    batches = calibration_inputs(calibration, loaded, size, num_batches=num_batches, batch_size=batch_size)
    if check_inputs is None:
        if calibration == "synthetic":
            check_inputs = list(synthetic_logmels(loaded, size, 64, split="evaluate", seed=1).split(16))
        else:
            fe = loaded.frontend or {}
            check_inputs = [random_logmels((16, *size), mean=float(fe.get("mean", -20.0)),
                                           std=float(fe.get("std", 12.0)), seed=10_000 + i) for i in range(4)]
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path)) as work:
        fp32_path = check_output_path(fp32_out) if fp32_out is not None else os.path.join(work, "fp32.onnx")
        exported = export_onnx(loaded, fp32_path, size, exporter=exporter)
        t0 = time.perf_counter()
        quantize_onnx(fp32_path, path, batches, per_channel=per_channel, op_types=op_types,
                      calibrate_method=calibrate_method, reduce_range=reduce_range)
        seconds = time.perf_counter() - t0
        agreement = int8_agreement(fp32_path, path, check_inputs)
        fp32_bytes = os.path.getsize(fp32_path)
    label = calibration if isinstance(calibration, str) else "custom"
    return QuantizeResult(int8_path=path, fp32_path=os.fspath(fp32_out) if fp32_out is not None else None,
                          export=exported, int8_bytes=os.path.getsize(path), fp32_bytes=fp32_bytes,
                          calibration=f"{label} ({len(batches)} batches)", agreement=agreement, seconds=seconds)


@dataclass(frozen=True)
class Int8Evaluation:
    """Accuracy of the fp32 model and of its int8 version on a labelled set.

    Attributes:
        n: clips evaluated.
        acc_fp32: top-1 accuracy of the fp32 PyTorch model.
        acc_int8: top-1 accuracy of the int8 ONNX model.
        delta_points: ``100 * (acc_int8 - acc_fp32)``, percentage points.
        agreement: int8 against fp32 on the same clips.
    """

    n: int
    acc_fp32: float
    acc_int8: float
    delta_points: float
    agreement: Agreement


def evaluate_int8(model_or_checkpoint: Union[nn.Module, str, os.PathLike, LoadedModel],
                  int8_path: Optional[str] = None, *, num_clips: int = 500, input_size: Optional[Sequence[int]] = None,
                  batch_size: int = 50, seed: int = 0, quantize_kwargs: Optional[Dict[str, Any]] = None,
                  trusted: bool = False) -> Int8Evaluation:
    """Accuracy change from int8 on the synthetic evaluation split (:class:`lightops.data.SyntheticScenes`).

    Meaningful for a trained model: ``evaluate_int8("runs/train/last.pt")``. The int8 model is built with
    :func:`quantize_int8` (synthetic training-split calibration) unless ``int8_path`` is given.

    Args:
        model_or_checkpoint: the trained model (a checkpoint path keeps its front end and normalisation).
        int8_path: an existing int8 ONNX file of this model (None: quantize into a temporary file).
        num_clips: evaluation clips.
        input_size: ``(C, F, T)`` (default: the checkpoint's or ``(1, 256, 44)``).
        batch_size: clips per batch.
        seed: data set seed (the one the model was trained with, so the splits do not overlap).
        quantize_kwargs: options for :func:`quantize_int8`.
        trusted: as :func:`export_onnx`.
    """
    loaded = resolve_model(model_or_checkpoint, trusted=trusted)
    size = tuple(input_size) if input_size is not None else loaded.default_input_size()
    mel, labels = synthetic_logmels(loaded, size, num_clips, split="evaluate", seed=seed, with_labels=True)
    batches = list(mel.split(batch_size))
    reference = deploy_module(loaded, fused=False)
    with tempfile.TemporaryDirectory() as work:
        if int8_path is None:
            int8_path = os.path.join(work, "int8.onnx")
            quantize_int8(loaded, int8_path, size, **(quantize_kwargs or {}))
        with torch.inference_mode():
            ref = torch.cat([reference(x) for x in batches]).numpy()
        got = _run(ort_session(int8_path), batches)
    y = labels.numpy()
    acc_fp32, acc_int8 = float((ref.argmax(1) == y).mean()), float((got.argmax(1) == y).mean())
    err = np.abs(ref - got)
    agreement = Agreement(n=len(y), top1=float((ref.argmax(1) == got.argmax(1)).mean()), max_abs_err=float(err.max()),
                          mean_abs_err=float(err.mean()), logit_scale=float(np.abs(ref).max()))
    return Int8Evaluation(n=len(y), acc_fp32=acc_fp32, acc_int8=acc_int8, delta_points=100 * (acc_int8 - acc_fp32),
                          agreement=agreement)
