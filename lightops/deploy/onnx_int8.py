"""int8 ONNX from ``lightops quantize``'s program: one calibration (or QAT) for PyTorch, ExecuTorch and ONNX Runtime.

``export_onnx("int8/qat.pt", "small_int8.onnx")`` (``lightops export int8/qat.pt --out small_int8.onnx``) exports
the converted PT2E program (:class:`lightops.deploy.pt2e.QuantizedModel`) with ``torch.onnx.export(...,
dynamo=True)``: its ``quantize_per_tensor`` / ``dequantize_per_channel`` pairs become ONNX ``QuantizeLinear`` /
``DequantizeLinear`` around the float operators (a QDQ graph), which ONNX Runtime runs as int8 kernels where it
fuses the pattern (convolutions, matrix products). The weights are the PT2E program's own int8 values and scales,
so the file is the model that was calibrated or fine-tuned, not a second quantization of the float export
(:func:`lightops.deploy.quantize.quantize_int8` is that: onnxruntime's own calibration of the fp32 file).

The input is the program's: the log-mel in dB ``(B, C, F, T)`` with ``(C, F, T)`` fixed (PT2E captured one clip
length; batch is dynamic), the checkpoint's normalisation inside the graph in float. The file is checked like an
ExecuTorch int8 program: ONNX Runtime's logits against the quantized PyTorch model are reported (its int8 kernels
round differently, by a quantization step or more), and judged by top-1 agreement and the largest probability
difference with the float model.
"""
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..checkpoint import LoadedModel
from ..fileio import atomic_path, check_output_path
from ..validation import check_int
from .export import model_metadata, optimize_onnx_graph
from .onnx_runtime import require_onnx
from .parity import ParityCheck, onnx_parity

__all__ = ["export_int8_onnx", "Int8OnnxResult", "activations_as_uint8", "MIN_AGREEMENT_CHECKS", "MIN_INT8_OPSET"]

MIN_AGREEMENT_CHECKS = 16
"""Inputs compared at least: top-1 agreement on fewer says little."""

MIN_INT8_OPSET = 18
"""The oldest opset the int8 export writes: only torch's dynamo exporter takes the PT2E program, and it implements
opset 18 and later (asked for an older one, it tries a version conversion, which fails on the QDQ graph, and keeps 18;
torch 2.14)."""


@dataclass(frozen=True)
class Int8OnnxResult:
    """What :func:`export_int8_onnx` wrote and measured.

    Attributes:
        path: the ONNX file.
        input_shape: ``(C, F, T)`` it takes (batch dynamic).
        checks: ONNX Runtime against the quantized PyTorch model, per input (reported, not a tolerance).
        agreement: top-1 agreement with the float model on the check inputs.
        max_prob_diff: largest softmax probability difference from the float model.
        qdq_nodes: ``QuantizeLinear`` + ``DequantizeLinear`` nodes in the file.
        file_bytes: size of the file.
        notes: remarks.
    """

    path: str
    input_shape: Tuple[int, int, int]
    checks: Tuple[ParityCheck, ...]
    agreement: float
    max_prob_diff: float
    qdq_nodes: int
    file_bytes: int
    notes: Tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """A few lines for the command line."""
        worst = max(c.max_abs_diff for c in self.checks)
        lines = [f"wrote {self.path} ({self.file_bytes / 1e6:.2f} MB, int8 QDQ from the PT2E program, "
                 f"{self.qdq_nodes} Q/DQ nodes)",
                 f"input (B, {', '.join(map(str, self.input_shape))}) log-mel in dB, batch dynamic",
                 "onnx.checker: ok",
                 f"onnxruntime int8 vs the quantized PyTorch model: max abs logit diff {worst:.3g} "
                 f"({sum(c.input_shape[0] for c in self.checks)} inputs)",
                 f"int8 vs fp32: top-1 agreement {self.agreement:.1%}, max probability diff {self.max_prob_diff:.3g}"]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


def activations_as_uint8(proto: Any) -> int:
    """Store the activations' int8 quantization as uint8, exactly, in place: every ``QuantizeLinear`` /
    ``DequantizeLinear`` of a computed tensor (not of a weight initializer) gets its int8 zero point ``z`` as the
    uint8 ``z + 128``, so ``q_u8 = q_s8 + 128`` and ``(q_u8 - (z + 128)) * s = (q_s8 - z) * s``: the same values.

    Why (a reason to rewrite what the exporter wrote): XNNPACK's quantizer makes int8 activations; ONNX Runtime's x86
    kernels are uint8 x int8, and with int8 activations it converts only some Q/DQ pairs, leaving the rest as float
    convolutions between standalone ``QuantizeLinear`` / ``DequantizeLinear`` nodes and NHWC transposes (dssdn_small,
    speed form, 1 s, 1 thread: 2.1x the fp32 file's time before, 1.3-1.6x after; ``benchmarks.bench_runtimes``).

    Returns:
        The number of nodes changed.
    """
    import onnx
    from onnx import numpy_helper

    init = {i.name: i for i in proto.graph.initializer}
    renamed: Dict[str, str] = {}
    changed = 0
    for node in proto.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.input[0] in init or len(node.input) < 3:
            continue
        zero = init.get(node.input[2])
        if zero is None or zero.data_type != onnx.TensorProto.INT8:
            continue
        if zero.name not in renamed:
            value = numpy_helper.to_array(zero).astype(np.int16) + 128
            new = numpy_helper.from_array(value.astype(np.uint8), f"{zero.name}_uint8")
            proto.graph.initializer.append(new)
            renamed[zero.name] = new.name
        node.input[2] = renamed[zero.name]
        changed += 1
    if changed:  # the exporter's recorded value types would still say int8
        del proto.graph.value_info[:]
        used = {i for n in proto.graph.node for i in n.input}
        for old in [i for i in proto.graph.initializer if i.name in renamed and i.name not in used]:
            proto.graph.initializer.remove(old)
    return changed


def export_int8_onnx(loaded: LoadedModel, out: str, *, opset: Optional[int] = None, checks: int = 16,
                     seed: int = 0, batch_size: int = 2) -> Int8OnnxResult:
    """Export the int8 program of ``loaded`` (from ``lightops quantize``) to a QDQ ONNX file, check it with
    onnxruntime, and write it atomically with the lightops metadata ``lightops predict`` reads.

    Args:
        loaded: a checkpoint whose model is a :class:`~lightops.deploy.pt2e.QuantizedModel`.
        out: the ``.onnx`` file.
        opset: ONNX opset (None: the exporter's), :data:`MIN_INT8_OPSET` or later; an export that writes another
            one fails.
        checks: random inputs at the model's input scale (at least :data:`MIN_AGREEMENT_CHECKS`).
        seed: their seed.
        batch_size: the batch the checks run at (the file's batch is dynamic).

    Returns:
        An :class:`Int8OnnxResult`.

    Raises:
        ValueError: ``loaded`` is not an int8 model, or a bad option (an ``opset`` below :data:`MIN_INT8_OPSET`).
        RuntimeError: the export failed, wrote another opset than ``opset``, or onnxruntime returned other shapes
            (nothing written).
        ImportError: onnx, onnxruntime or torchao is missing.
    """
    from .pt2e import float_agreement, int8_module, is_quantized

    if not is_quantized(loaded.model):
        raise ValueError("export_int8_onnx: needs an int8 checkpoint from lightops quantize (ptq.pt or qat.pt)")
    check_int(checks, "export_int8_onnx: checks", minimum=1)
    check_int(batch_size, "export_int8_onnx: batch_size", minimum=1)
    if opset is not None and check_int(opset, "export_int8_onnx: opset") < MIN_INT8_OPSET:
        raise ValueError(f"export_int8_onnx: opset {opset} is older than an int8 checkpoint exports: only torch's "
                         f"dynamo exporter takes its program, and it writes opset {MIN_INT8_OPSET} or later; ask for "
                         f"{MIN_INT8_OPSET} or more, or leave the opset out")
    require_onnx()
    import onnx

    path = check_output_path(out)
    size = tuple(int(v) for v in loaded.model.input_size)
    net = int8_module(loaded, size)  # an exported graph: no train/eval mode
    mean, std = loaded.norm
    gen = torch.Generator().manual_seed(seed)
    n = max(checks, MIN_AGREEMENT_CHECKS)
    inputs = [mean + std * torch.randn(min(batch_size, n - i), *size, generator=gen) for i in range(0, n, batch_size)]
    kwargs = {} if opset is None else {"opset_version": opset}
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    meta = model_metadata(loaded, size, False, fixed_length=True)
    meta["lightops.int8"] = json.dumps({k: v for k, v in loaded.model.info.items()
                                        if isinstance(v, (str, int, float, bool))})
    with atomic_path(path) as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(net, (inputs[0],), tmp, dynamo=True, dynamic_shapes=({0: batch},),
                                  input_names=["logmel"], output_names=["logits"], external_data=False,
                                  verbose=False, **kwargs)
        except Exception as e:  # the exporter raises many kinds; one line names it
            raise RuntimeError(f"int8 ONNX export failed: {type(e).__name__}: "
                               f"{(str(e).strip().splitlines() or [''])[0][:300]}") from e
        proto = onnx.load(tmp)
        written = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        if opset is not None and written != opset:
            raise RuntimeError(f"int8 ONNX export wrote opset {written}, not the opset {opset} asked for")
        for node in proto.graph.node:  # the exporter's per-node debug records (stack traces): most of the bytes
            del node.metadata_props[:]
        optimize_onnx_graph(proto)
        as_uint8 = activations_as_uint8(proto)
        onnx.helper.set_model_props(proto, meta)
        onnx.save(proto, tmp)
        onnx.checker.check_model(proto, full_check=True)
        qdq = sum(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in proto.graph.node)
        got: List[torch.Tensor] = []
        found = onnx_parity(tmp, net, inputs, outputs=got)
        agreement, prob = float_agreement(loaded, inputs, torch.cat(got))
        file_bytes = os.path.getsize(tmp)
    notes = [f"{qdq} quantize/dequantize nodes ({as_uint8} of activations stored as uint8, exactly); onnxruntime "
             f"fuses them with the convolutions, additions, pools and concatenations into int8 kernels when it loads "
             f"the file"]
    return Int8OnnxResult(path, size, tuple(found), agreement, prob, qdq, file_bytes, tuple(notes))
