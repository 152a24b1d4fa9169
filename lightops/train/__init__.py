"""Training and evaluation of scene classifiers on raw waveforms (``lightops train`` / ``lightops eval``).

- :func:`train` with a :class:`TrainConfig` (:mod:`~lightops.train.run`): data (:mod:`~lightops.train.data`),
  the engine's step and epoch (:mod:`~lightops.train.engine`) with losses as components
  (:mod:`~lightops.train.losses`), atomic checkpoints in :mod:`lightops.checkpoint`'s format, exact resume,
  ``metrics.json`` and figures; under ``torchrun`` the same call trains with DDP (:mod:`~lightops.train.distributed`).
- :func:`evaluate_checkpoint` / :func:`evaluate` (:mod:`~lightops.train.evaluation`): accuracy, log loss,
  per-device (seen / unseen) figures (:mod:`~lightops.train.metrics`).
- :func:`build_model`: lightops models, the DCASE baseline CNN and timm models (:mod:`lightops.checkpoint`).

The command line lives in :mod:`lightops.cli` (``train``, ``eval``); the old names ``train_main``, ``eval_main``,
``add_train_parser``, ``add_eval_parser``, ``load_checkpoint``, ``FrontEnd``, ``atomic_save``, ``atomic_write_json``,
``DCASEBaselineCNN`` and ``dcase2020_baseline`` still resolve here, with a ``DeprecationWarning``.
"""
import os
import warnings
from typing import Any, Dict, Union

import torch

from .._deprecation import moved_names
from ..checkpoint import build_model, known_models, read_checkpoint
from .config import TrainConfig
from .data import build_datasets
from .distributed import DistEnv, ShardedBatchSampler, init_distributed
from .evaluation import evaluate, evaluate_checkpoint
from .metrics import classification_metrics, model_complexity
from .plots import plot_confusion_matrix, plot_training_curves
from .run import train

__all__ = [
    "TrainConfig", "train", "evaluate", "evaluate_checkpoint", "build_model", "build_datasets", "known_models",
    "classification_metrics", "model_complexity", "DistEnv", "init_distributed", "ShardedBatchSampler",
    "plot_training_curves", "plot_confusion_matrix",
]


def load_checkpoint(path: Union[str, "os.PathLike[str]"], map_location: Union[str, torch.device] = "cpu"
                    ) -> Dict[str, Any]:
    """Deprecated: use :func:`lightops.checkpoint.read_checkpoint` (safe by default) or
    :func:`lightops.checkpoint.load_model` (model and front end rebuilt). Returns the checkpoint dict."""
    warnings.warn("lightops.train.load_checkpoint is deprecated; use lightops.checkpoint.read_checkpoint (the dict) "
                  "or lightops.checkpoint.load_model (the model)", DeprecationWarning, stacklevel=2)
    return read_checkpoint(path, trusted=True, map_location=map_location)


__getattr__ = moved_names(__name__, {
    "train_main": "lightops.cli.train:main", "eval_main": "lightops.cli.eval:main",
    "add_train_parser": "lightops.cli.train:add_parser", "add_eval_parser": "lightops.cli.eval:add_parser",
    "FrontEnd": "lightops.audio", "atomic_save": "lightops.fileio", "atomic_write_json": "lightops.fileio",
    "DCASEBaselineCNN": "lightops.models", "dcase2020_baseline": "lightops.models",
})
