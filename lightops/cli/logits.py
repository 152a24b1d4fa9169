"""``lightops logits``: store a teacher ensemble's logits on a training split, for ``lightops train
--teacher-logits`` (knowledge distillation with a teacher trained elsewhere)."""
import argparse
import sys

from lightops.checkpoint import read_checkpoint
from lightops.train import TrainConfig, build_datasets
from lightops.train.teacher import FRONTEND_KEYS, check_teachers, compute_teacher_logits, save_teacher_logits

from ._args import subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops logits`` options to ``p``."""
    p.add_argument("teachers", nargs="+", help="teacher checkpoints (last.pt from lightops train); an ensemble is "
                                               "averaged")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a TAU 2020 Mobile folder (its train split)")
    p.add_argument("--out", required=True, help="output file (torch.save), written atomically")
    p.add_argument("--num-clips", type=int, default=None, help="synthetic training clips (default 1000)")
    p.add_argument("--clip-seconds", type=float, default=None, help="clip length (default 1 s synthetic, 10 s TAU)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    p.add_argument("--fold", type=int, default=1, help="TAU fold (default 1)")
    p.add_argument("--resample", action="store_true", help="resample TAU files at another rate")
    p.add_argument("--batch-size", type=int, default=64, help="clips per forward pass (default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run(ns: argparse.Namespace) -> int:
    try:
        frontend = read_checkpoint(ns.teachers[0]).get("frontend") or {}
        settings = {k: frontend[k] for k in FRONTEND_KEYS if k in frontend}
        cfg = TrainConfig(data=ns.data, num_clips=ns.num_clips, clip_seconds=ns.clip_seconds, data_seed=ns.data_seed,
                          fold=ns.fold, resample=ns.resample, **settings)
        train_set, _ = build_datasets(cfg)
        check_teachers(ns.teachers, list(train_set.classes), dict(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft,
                                                                  hop_length=cfg.hop_length, n_mels=cfg.n_mels))
        table = compute_teacher_logits(ns.teachers, train_set, batch_size=ns.batch_size,
                                       progress=not ns.quiet and sys.stderr.isatty())
        save_teacher_logits(table, ns.out)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops logits: {e}") from e
    if not ns.quiet:
        print(f"wrote {ns.out}: logits of {len(ns.teachers)} teacher(s) on {len(table['names'])} clips")
    return 0


add_parser, main = subcommand("logits", "store teacher logits on a training split (for train --teacher-logits)",
                               "Store teacher logits.", add_arguments, _run)
