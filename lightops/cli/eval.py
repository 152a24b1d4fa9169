"""``lightops eval``: evaluate a training checkpoint on the evaluate split."""
import argparse

import torch

from lightops.train import evaluate_checkpoint

from ._args import subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops eval`` options to ``p``."""
    p.add_argument("checkpoint", help="a last.pt written by lightops train")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a TAU 2020 Mobile folder (evaluate split)")
    p.add_argument("--out", default=None, help="output folder (default: eval/ next to the checkpoint)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    p.add_argument("--num-clips", type=int, default=None, help="synthetic evaluation clips (default: as trained)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    return p


def _run(ns: argparse.Namespace) -> int:
    try:
        if ns.threads:
            torch.set_num_threads(ns.threads)
        evaluate_checkpoint(ns.checkpoint, ns.data, ns.out, batch_size=ns.batch_size, workers=ns.workers,
                            num_clips=ns.num_clips, device=ns.device, quiet=ns.quiet)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops eval: {e}") from e
    return 0


add_parser, main = subcommand("eval", "evaluate a training checkpoint on the evaluate split",
                               "Evaluate a training checkpoint.", add_arguments, _run)
