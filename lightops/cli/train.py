"""``lightops train``: train a scene classifier (one process, or one rank under ``torchrun``).

The options are generated from the fields of :class:`~lightops.train.TrainConfig` (their help text, type and
default are defined there); ``--width`` is a shorthand for the model argument.
"""
import argparse

import torch

from lightops.data import AudioFileError
from lightops.train import TrainConfig, known_models, train
from lightops.train.config import RECIPES, recipe_config

from ._args import add_config_arguments, check_out_folder, given_options, removed_if_empty_on_failure, subcommand

__all__ = ["add_arguments", "config_from_args", "add_parser", "main", "USER_ERRORS", "GROUPS"]

USER_ERRORS = (ValueError, TypeError, OSError, AudioFileError)
"""Errors that mean bad input: the command prints them as one line and exits."""

GROUPS = {"recipe": ("device-robust recipe and distillation",
                     "--recipe dcase turns on Freq-MixStyle, simulated device impulse responses and time rolling "
                     "(each option below names its dcase value), as CP-JKU's DCASE 2023 system and the DCASE "
                     "2024/2025 baselines; options given explicitly override the preset. Distillation is on when "
                     "--teacher or --teacher-logits is given.")}
"""Help sections of the ``TrainConfig`` fields that name a ``group``."""


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops train`` options to ``p``: one per :class:`~lightops.train.TrainConfig` field, left out of
    the namespace unless given (so that :func:`config_from_args` can tell them from the ``--recipe`` preset)."""
    add_config_arguments(p, TrainConfig, explicit_only=True, presets=RECIPES, groups=GROUPS)
    p.add_argument("--width", type=float, default=None, help="channel multiplier (shorthand for model kwarg width)")
    p.epilog = f"models: {', '.join(known_models())}, or any timm model name"
    return p


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    """The :class:`~lightops.train.TrainConfig` of parsed options: the ``--recipe`` preset, overridden by the
    options given explicitly."""
    kw = given_options(ns, TrainConfig)
    if getattr(ns, "width", None) is not None:
        kw["model_kwargs"] = dict(kw.get("model_kwargs", {}), width=ns.width)
    return recipe_config(kw.pop("recipe", "default"), **kw)


def _run(ns: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(ns)
        check_out_folder(cfg.out)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)  # process-wide settings belong to the command
        with removed_if_empty_on_failure(cfg.out):
            result = train(cfg)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops train: {e}") from e
    return 0 if result.get("complete") or cfg.stop_after else 1


add_parser, main = subcommand("train", "train a model on synthetic scenes or TAU 2020 Mobile (torchrun for DDP)",
                               "Train a scene classifier.", add_arguments, _run)
