"""Training, evaluation and distributed training of scene classifiers (``lightops train`` / ``lightops eval``).

- :func:`train` with a :class:`TrainConfig`: log-mel front end in the step, mixup and SpecAugment, timm's
  optimizer and scheduler factories, OSC's orthonormal penalty, atomic checkpoints, exact ``resume``,
  ``metrics.json`` and PNG figures; under ``torchrun`` the same call trains with DDP.
- :func:`evaluate_checkpoint` / :func:`evaluate`: accuracy, log loss, per-device (seen / unseen) figures.
- :func:`build_model`: lightops models, the DCASE baseline CNN (:func:`dcase2020_baseline`) and timm models.
- :func:`train_main`, :func:`eval_main`, :func:`add_train_parser`, :func:`add_eval_parser`: the command line.
"""
from ..models import DCASEBaselineCNN, dcase2020_baseline
from .checkpoint import atomic_save, atomic_write_json, load_checkpoint
from .distributed import DistEnv, ShardedBatchSampler, init_distributed
from .loop import (
    FrontEnd,
    TrainConfig,
    add_eval_parser,
    add_train_parser,
    build_datasets,
    build_model,
    eval_main,
    evaluate,
    evaluate_checkpoint,
    known_models,
    train,
    train_main,
)
from .metrics import classification_metrics, model_complexity
from .plots import plot_confusion_matrix, plot_training_curves

__all__ = [
    "TrainConfig", "FrontEnd", "train", "evaluate", "evaluate_checkpoint", "build_model", "build_datasets",
    "known_models", "train_main", "eval_main", "add_train_parser", "add_eval_parser",
    "load_checkpoint", "atomic_save", "atomic_write_json", "classification_metrics", "model_complexity",
    "DistEnv", "init_distributed", "ShardedBatchSampler", "DCASEBaselineCNN", "dcase2020_baseline",
    "plot_training_curves", "plot_confusion_matrix",
]
