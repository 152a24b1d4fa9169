"""``lightops eval``: evaluate a training checkpoint on the evaluate split."""
import argparse

import torch

from lightops.checkpoint import read_checkpoint
from lightops.train import TrainConfig, evaluate_checkpoint
from lightops.train.finetune import evaluate_finetuned

from ._args import add_config_arguments, subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops eval`` options to ``p``: its own, and ``data``, ``workers``, ``device``, ``threads`` and
    ``quiet`` as :class:`~lightops.train.TrainConfig` defines them (the evaluate split of ``--data`` is used)."""
    p.add_argument("checkpoint", help="a last.pt written by lightops train, or by lightops finetune --per-device "
                                      "(then each clip goes through its device's model, others through the general "
                                      "one, and both evaluations are reported)")
    p.add_argument("--out", default=None, help="output folder (default: eval/ next to the checkpoint)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--num-clips", type=int, default=None, help="synthetic evaluation clips (default: as trained)")
    return add_config_arguments(p, TrainConfig, ("data", "workers", "device", "threads", "quiet"))


def _run(ns: argparse.Namespace) -> int:
    try:
        if ns.threads:
            torch.set_num_threads(ns.threads)
        if read_checkpoint(ns.checkpoint).get("device_models"):  # lightops finetune --per-device: both evaluations
            evaluate_finetuned(ns.checkpoint, ns.data, ns.out, batch_size=ns.batch_size, num_clips=ns.num_clips,
                               quiet=ns.quiet)
            return 0
        evaluate_checkpoint(ns.checkpoint, ns.data, ns.out, batch_size=ns.batch_size, workers=ns.workers,
                            num_clips=ns.num_clips, device=ns.device, quiet=ns.quiet)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops eval: {e}") from e
    return 0


add_parser, main = subcommand("eval", "evaluate a training checkpoint on the evaluate split",
                               "Evaluate a training checkpoint.", add_arguments, _run)
