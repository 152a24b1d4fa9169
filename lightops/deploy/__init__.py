"""Deployment: inference rewrites (:func:`fuse`), ONNX export (:func:`export_onnx`), int8 (:func:`quantize_int8`).

ONNX export and int8 quantization need the ``export`` extra (onnx, onnxruntime), imported on first use; names
are resolved lazily so that ``python -m lightops.deploy.export`` runs its module once.
"""
from __future__ import annotations

import importlib
from typing import Any, List

_EXPORTS = {
    "fuse": "fuse", "inference_params": "fuse", "register_norm_fold": "fuse",
    "export_onnx": "export", "ExportResult": "export", "load_checkpoint": "export", "LoadedModel": "export",
    "main_export": "export", "add_export_arguments": "export",
    "quantize_int8": "quantize", "QuantizeResult": "quantize", "evaluate_int8": "quantize",
    "calibration_inputs": "quantize", "int8_agreement": "quantize",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
