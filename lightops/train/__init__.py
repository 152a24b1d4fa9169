"""Training and evaluation of scene classifiers on raw waveforms (``lightops train`` / ``lightops eval``).

- :func:`train` with a :class:`TrainConfig` (:mod:`~lightops.train.run`): data (:mod:`~lightops.train.data`),
  the engine's step and epoch (:mod:`~lightops.train.engine`) with losses as components
  (:mod:`~lightops.train.losses`), atomic checkpoints in :mod:`lightops.checkpoint`'s format, exact resume,
  ``metrics.json`` and figures; under ``torchrun`` the same call trains with DDP (:mod:`~lightops.train.distributed`).
- :func:`evaluate_checkpoint` / :func:`evaluate` (:mod:`~lightops.train.evaluation`): accuracy, log loss,
  per-device (seen / unseen) figures (:mod:`~lightops.train.metrics`).
- :func:`build_model`: lightops models, the reference CNNs and timm models, by name (:mod:`lightops._factory`).

The command line lives in :mod:`lightops.cli` (``train``, ``eval``, ``logits``).
"""
from .._factory import build_model, known_models
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
