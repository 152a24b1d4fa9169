"""Deployment: inference rewrites (:func:`fuse`), ONNX export (:func:`export_onnx`), int8 (:func:`quantize_int8`).

- :mod:`~lightops.deploy.fuse`: the generic walk that turns every layer into its ``inference_form()`` (each layer
  owns its form: operators as conv chains, DSSDB as a short chain of convolutions), folds norms (each operator's
  ``fold_norm()``) and drops training-only layers;
- :mod:`~lightops.deploy.align`: channel widths padded to whole blocks of ONNX Runtime's NCHWc layout;
- :mod:`~lightops.deploy.freeze`: the frozen TorchScript form, the fastest in eager PyTorch;
- :mod:`~lightops.deploy.module`: the module to deploy (front end or input normalisation, then the fused model);
- :mod:`~lightops.deploy.export`: ONNX writing with two exporters, checked by :mod:`~lightops.deploy.parity`;
- :mod:`~lightops.deploy.quantize`: onnxruntime static int8;
- :mod:`~lightops.deploy.executorch`: ExecuTorch ``.pte`` with the XNNPACK delegate (fp32 and int8);
- :mod:`~lightops.deploy.pt2e`: int8 PyTorch models with torchao's PT2E flow (PTQ, QAT);
- :mod:`~lightops.deploy.onnx_runtime`: sessions and the metadata an exported file carries;
- :mod:`~lightops.deploy.predict` and :mod:`~lightops.deploy.streaming`: labels for recordings and live audio;
- :mod:`~lightops.deploy.adapt`: device models from unlabeled recordings of a device (batch-norm statistics).

ONNX export and onnxruntime int8 need the ``export`` extra (onnx, onnxruntime), ExecuTorch and PT2E int8 the
``edge`` extra (executorch, torchao), imported on first use; names are resolved lazily.
"""
import importlib
from typing import Any, List

# Imported eagerly (torch only): a function named like its module must be bound after the module is imported, or
# `from lightops.deploy import fuse` could return the module.
from .freeze import freeze
from .fuse import fuse, inference_params, to_inference_form

_EXPORTS = {
    "deploy_module": "module", "InputNorm": "module",
    "export_onnx": "export", "ExportResult": "export",
    "onnx_parity": "parity", "ParityCheck": "parity",
    "ort_session": "onnx_runtime", "read_metadata": "onnx_runtime",
    "quantize_int8": "quantize", "QuantizeResult": "quantize", "evaluate_int8": "quantize",
    "calibration_inputs": "quantize", "int8_agreement": "quantize",
    "Predictor": "predict", "predict_files": "predict", "write_predictions": "predict",
    "NonFiniteError": "predict", "check_finite": "predict",  # lightops.data's, named by predict
    "StreamingClassifier": "streaming",
    "export_executorch": "executorch", "ExecuTorchResult": "executorch",
    "QuantizedModel": "pt2e", "quantize_ptq": "pt2e", "quantize_qat": "pt2e",
    "adapt_batchnorm": "adapt", "adapt_checkpoint": "adapt", "device_inputs": "adapt",
}

__all__ = ["fuse", "inference_params", "to_inference_form", "freeze"] + list(_EXPORTS) + ["LoadedModel"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "LoadedModel":
        from ..checkpoint import LoadedModel

        return LoadedModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
