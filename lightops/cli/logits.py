"""``lightops logits``: store a teacher ensemble's logits on a training split, for ``lightops train
--teacher-logits`` (knowledge distillation with a teacher trained elsewhere)."""
import argparse
import sys

from lightops.checkpoint import read_checkpoint
from lightops.fileio import check_output_path
from lightops.train import TrainConfig, build_datasets
from lightops.train.data import frontend_settings
from lightops.train.teacher import FRONTEND_KEYS, check_teachers, compute_teacher_logits, save_teacher_logits

from ._args import add_config_arguments, given_options, subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]

_DATA_OPTIONS = ("data", "clip_seconds", "num_clips", "data_seed", "fold", "resample")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops logits`` options to ``p``: its own, and the data options of
    :class:`~lightops.train.TrainConfig` (the training split of ``--data`` is used; give the options of the run the
    logits are for)."""
    p.add_argument("teachers", nargs="+", help="teacher checkpoints (last.pt from lightops train); an ensemble is "
                                               "averaged")
    p.add_argument("--out", required=True, help="output file (torch.save), written atomically")
    p.add_argument("--batch-size", type=int, default=64, help="clips per forward pass (default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return add_config_arguments(p, TrainConfig, _DATA_OPTIONS, explicit_only=True)



def _run(ns: argparse.Namespace) -> int:
    try:
        check_output_path(ns.out)  # before the teachers run over the training split
        frontend = read_checkpoint(ns.teachers[0]).get("frontend") or {}
        settings = {k: frontend[k] for k in FRONTEND_KEYS if k in frontend}
        cfg = TrainConfig(**given_options(ns, TrainConfig, _DATA_OPTIONS), **settings)
        train_set, _ = build_datasets(cfg)
        check_teachers(ns.teachers, list(train_set.classes), frontend_settings(cfg))
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
