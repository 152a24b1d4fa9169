"""Templates of the files ``lightops package`` writes: the package's ``__init__.py`` and its ``pyproject.toml``.

``string.Template`` placeholders: ``$name``, ``$model``, ``$dtype``, ``$version``, ``$lightops_version``.
"""
from string import Template

__all__ = ["INIT_PY", "PYPROJECT_TOML"]

INIT_PY = Template('''"""$name: a DCASE 2025 Task 1 submission ($model, parameters at $dtype), from lightops package.

The four functions the task's inference scripts call::

    model = load_model()                                  # the general model and one model per device
    logits, classes = predict(file_paths, device_ids)     # one logit tensor (K,) per file, and the class order

Devices without their own model use the general one. On CUDA the models run at the stored dtype; on the CPU as
float32 copies of the stored weights.
"""
import os
from typing import List, Optional, Sequence, Tuple

import torch

from lightops.deploy.submission import SubmissionModel

__all__ = ["load_model", "load_inputs", "get_model_for_device", "predict", "MODEL_FILE", "RESOURCES"]

_HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_FILE = os.path.join(_HERE, "ckpts", "model.pt")
RESOURCES = os.path.join(_HERE, "resources")


def load_model(model_file_path: Optional[str] = None) -> SubmissionModel:
    """The submission's model (general and device models, front end, classes) from ``model_file_path`` (default:
    the packaged checkpoint)."""
    return SubmissionModel.load(model_file_path or MODEL_FILE)


def load_inputs(file_paths: Sequence[str], device_ids: Sequence[Optional[str]], model: SubmissionModel
                ) -> List[torch.Tensor]:
    """The recordings as float32 mono waveforms ``(samples,)`` at the model's sample rate (resampled if needed)."""
    if len(file_paths) != len(device_ids):
        raise ValueError(f"{len(file_paths)} files but {len(device_ids)} device ids")
    return [model.read(path) for path in file_paths]


def get_model_for_device(model: SubmissionModel, device_id: Optional[str]) -> torch.nn.Module:
    """The model that classifies recordings of ``device_id`` (the general model for an unknown device)."""
    return model.model_for_device(device_id)


def predict(file_paths: Sequence[str], device_ids: Sequence[Optional[str]], model_file_path: Optional[str] = None,
            use_cuda: bool = True, batch_size: int = 64) -> Tuple[List[torch.Tensor], List[str]]:
    """One logit tensor ``(K,)`` per file (the log of the mean softmax over its windows) and the class order."""
    model = load_model(model_file_path)
    waveforms = load_inputs(file_paths, device_ids, model)
    return model.logits(waveforms, device_ids, batch_size=batch_size, use_cuda=use_cuda), list(model.classes)
''')
"""The package's ``__init__.py``: the four functions of the DCASE 2025 inference interface."""

PYPROJECT_TOML = Template('''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "$version"
description = "DCASE 2025 Task 1 submission: $model at $dtype, written by lightops package"
requires-python = ">=3.9"
dependencies = ["lightops>=$lightops_version", "torch", "numpy", "soundfile"]

[tool.setuptools]
packages = ["$name"]

[tool.setuptools.package-data]
$name = ["ckpts/*.pt", "resources/*"]
''')
"""The package's ``pyproject.toml`` (setuptools; depends on lightops)."""
