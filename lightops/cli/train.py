"""``lightops train``: train a scene classifier (one process, or one rank under ``torchrun``)."""
import argparse
from dataclasses import fields

import torch

from lightops.checkpoint import known_models
from lightops.data import TRAIN_FRACTIONS, AudioFileError
from lightops.train import TrainConfig, train
from lightops.train.config import RECIPES, recipe_config

from ._args import json_dict, subcommand

__all__ = ["add_arguments", "config_from_args", "add_parser", "main", "USER_ERRORS"]

USER_ERRORS = (ValueError, TypeError, OSError, AudioFileError)
"""Errors that mean bad input: the command prints them as one line and exits."""


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops train`` options to ``p``.

    One ``add_argument`` line per :class:`~lightops.train.TrainConfig` field, in the order of the config, so the
    function is long but flat; the recipe options default to None so that :func:`config_from_args` can tell an
    explicit value from the ``--recipe`` preset.
    """
    d = TrainConfig()
    a = p.add_argument
    a("--model", default=d.model, help=f"model name: {', '.join(known_models())} or a timm model "
                                       f"(default {d.model})")
    a("--model-kwargs", type=json_dict, default={}, help='JSON object of model arguments, e.g. \'{"width": 0.5}\'')
    a("--width", type=float, default=None, help="channel multiplier (shorthand for model kwarg width)")
    a("--data", default=d.data, help="'synthetic' or a TAU Urban Acoustic Scenes 2020 Mobile folder")
    a("--out", default=d.out, help=f"output folder (default {d.out})")
    a("--epochs", type=int, default=d.epochs, help=f"total epochs (default {d.epochs})")
    a("--stop-after", type=int, default=None, help="stop after this many epochs in this call (resume later)")
    a("--batch-size", type=int, default=d.batch_size, help=f"clips per process and micro-batch (default "
                                                           f"{d.batch_size})")
    a("--accum-steps", type=int, default=d.accum_steps, help="micro-batches per optimizer step (default 1)")
    a("--opt", default=d.opt, help=f"timm optimizer (default {d.opt})")
    a("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    a("--weight-decay", type=float, default=d.weight_decay, help=f"weight decay (default {d.weight_decay})")
    a("--sched", default=d.sched, help=f"timm scheduler (default {d.sched})")
    a("--warmup-epochs", type=int, default=d.warmup_epochs, help=f"warm-up epochs (default {d.warmup_epochs})")
    a("--min-lr", type=float, default=d.min_lr, help=f"final learning rate (default {d.min_lr})")
    a("--seed", type=int, default=d.seed, help=f"seed of initialisation, data order, augmentation (default {d.seed})")
    a("--mixup", dest="mixup_alpha", type=float, default=d.mixup_alpha,
      help=f"mixup Beta alpha, 0 disables (default {d.mixup_alpha})")
    a("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing (default 0)")
    a("--no-specaug", dest="specaug", action="store_false", help="disable SpecAugment")
    a("--freq-mask", type=int, default=None, help="widest frequency mask in mel bins (default n_mels // 8)")
    a("--time-mask", type=int, default=None, help="widest time mask in frames (default frames // 8)")
    a("--ortho-alpha", type=float, default=d.ortho_alpha, help=f"OSC orthonormal penalty weight (default "
                                                               f"{d.ortho_alpha})")
    a("--sample-rate", type=int, default=d.sample_rate, help=f"Hz (default {d.sample_rate})")
    a("--n-fft", type=int, default=d.n_fft, help=f"FFT size (default {d.n_fft})")
    a("--hop-length", type=int, default=d.hop_length, help=f"hop in samples (default {d.hop_length})")
    a("--n-mels", type=int, default=d.n_mels, help=f"mel bins (default {d.n_mels})")
    a("--clip-seconds", type=float, default=None, help="clip length (default 1 s synthetic, 10 s TAU)")
    a("--num-clips", type=int, default=None, help="synthetic training clips (default 1000)")
    a("--num-eval-clips", type=int, default=None, help="synthetic evaluation clips (default num-clips / 2)")
    a("--data-seed", type=int, default=d.data_seed, help="seed of the synthetic data (default 0)")
    a("--fold", type=int, default=d.fold, help="TAU fold (default 1)")
    a("--norm-clips", type=int, default=d.norm_clips, help=f"training clips whose log-mel mean and std normalise "
                                                           f"the input (default {d.norm_clips})")
    a("--resample", action="store_true", help="resample TAU files at another rate instead of failing")
    a("--workers", type=int, default=d.workers, help="DataLoader workers (default 0)")
    a("--cache", action="store_true", help="read every clip once (with --workers processes) and keep them in memory")
    a("--amp", action="store_true", help="mixed precision (bfloat16 on CPU, float16 on CUDA)")
    a("--sync-bn", action="store_true", help="under torchrun on CUDA: BatchNorm over the global batch")
    a("--device", default=None, help="cpu or cuda (default: cuda when available)")
    a("--eval-every", type=int, default=d.eval_every, help="evaluate every N epochs (default 1)")
    a("--threads", type=int, default=None, help="torch intra-op threads")
    a("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    a("--resume", action="store_true", help="continue the run in --out from its last.pt")
    a("--overwrite", action="store_true", help="start over in an --out that already holds a run")
    g = p.add_argument_group("device-robust recipe and distillation",
                             "--recipe dcase turns on Freq-MixStyle (p 0.4, alpha 0.3), simulated device impulse "
                             "responses (p 0.6) and time rolling, as CP-JKU's DCASE 2023 system and the DCASE "
                             "2024/2025 baselines; options given explicitly override the preset. Distillation is on "
                             "when --teacher or --teacher-logits is given.")
    g.add_argument("--recipe", choices=sorted(RECIPES), default="default", help="preset of the options below "
                                                                               "(default: default)")
    g.add_argument("--freq-mixstyle", type=float, default=None, metavar="P",
                   help="Freq-MixStyle probability per batch (default 0; dcase 0.4)")
    g.add_argument("--freq-mixstyle-alpha", type=float, default=None, metavar="A",
                   help="Freq-MixStyle Beta alpha (default 0.3)")
    g.add_argument("--dir", default=None, metavar="SOURCE", help="device impulse responses: 'simulated' or a folder "
                                                                 "of IR audio files (default off; dcase simulated)")
    g.add_argument("--dir-p", type=float, default=None, metavar="P", help="probability per clip of a device "
                                                                          "response (default 0.6)")
    g.add_argument("--roll", action=argparse.BooleanOptionalAction, default=None,
                   help="random circular time shift of each training clip (default off; dcase on)")
    g.add_argument("--train-fraction", type=float, default=d.train_fraction, choices=TRAIN_FRACTIONS,
                   help="DCASE 2024 data-efficient subset of the training split, stratified by class and device "
                        "(default 1)")
    g.add_argument("--teacher", nargs="+", default=(), metavar="CKPT", help="teacher checkpoints from lightops "
                                                                            "train (an ensemble: mean logits)")
    g.add_argument("--teacher-logits", default=None, metavar="FILE", help="stored teacher logits (lightops logits) "
                                                                          "instead of --teacher")
    g.add_argument("--kd-temperature", type=float, default=d.kd_temperature, help=f"distillation temperature "
                                                                                  f"(default {d.kd_temperature})")
    g.add_argument("--kd-weight", type=float, default=d.kd_weight, help=f"label-loss weight under distillation "
                                                                        f"(default {d.kd_weight})")
    return p


_PRESET_KEYS = ("freq_mixstyle", "freq_mixstyle_alpha", "dir", "dir_p", "roll")  # None: take the preset's value


def config_from_args(ns: argparse.Namespace) -> TrainConfig:
    """The :class:`~lightops.train.TrainConfig` of parsed options: the ``--recipe`` preset, overridden by the
    options given explicitly."""
    kw = {f.name: getattr(ns, f.name) for f in fields(TrainConfig) if hasattr(ns, f.name)}
    model_kwargs = dict(ns.model_kwargs)
    if ns.width is not None:
        model_kwargs["width"] = ns.width
    kw["model_kwargs"] = model_kwargs
    kw["teacher"] = tuple(kw.get("teacher") or ())
    recipe = kw.pop("recipe")
    explicit = {k: kw.pop(k) for k in _PRESET_KEYS if kw.get(k) is not None}
    for k in _PRESET_KEYS:
        kw.pop(k, None)
    return recipe_config(recipe, **kw, **explicit)


def _run(ns: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(ns)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)  # process-wide settings belong to the command
        result = train(cfg)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops train: {e}") from e
    return 0 if result.get("complete") or ns.stop_after else 1


add_parser, main = subcommand("train", "train a model on synthetic scenes or TAU 2020 Mobile (torchrun for DDP)",
                               "Train a scene classifier.", add_arguments, _run)
