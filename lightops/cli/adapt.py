"""``lightops adapt``: device models from unlabeled recordings of each device (batch-norm statistics, AdaBN).

``lightops adapt RUN/last.pt --device s4 rec/s4/ --device s5 rec/s5/ --out DIR`` writes ``DIR/last.pt``, the
checkpoint with one device model per ``--device`` (:func:`lightops.deploy.adapt.adapt_checkpoint`), and
``DIR/adapt.json``. ``lightops eval DIR/last.pt`` then compares the general model with the device models per device,
and ``lightops predict DIR/last.pt audio/ --device-ids meta.csv`` sends each file through its device's model.
"""
import argparse
from typing import Dict, List

from lightops.deploy.adapt import DEFAULT_PRIOR, adapt_checkpoint

from ._args import subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main", "recordings_of"]


def recordings_of(groups: List[List[str]]) -> Dict[str, List[str]]:
    """``--device ID PATH [PATH ...]`` groups (repeatable) as ``{device id: paths}``; a device given twice has all its
    paths."""
    out: Dict[str, List[str]] = {}
    for group in groups:
        if len(group) < 2:
            raise ValueError(f"--device takes a device id and at least one audio file or folder, got {group}")
        out.setdefault(group[0], []).extend(group[1:])
    return out


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops adapt`` options to ``p``."""
    p.add_argument("checkpoint", help="a last.pt from lightops train (or finetune --per-device)")
    p.add_argument("--device", nargs="+", action="append", required=True, metavar=("ID", "PATH"),
                   help="a device id and its unlabeled recordings (audio files or folders); repeat per device")
    p.add_argument("--out", required=True, help="output folder: last.pt with the device models, adapt.json")
    p.add_argument("--max-windows", type=int, default=None,
                   help="use at most this many clip-length windows per device (default: every window)")
    p.add_argument("--prior", type=float, default=DEFAULT_PRIOR,
                   help="weight of the trained statistics, in clips, beside the device's windows (0: the device's "
                        "alone, plain AdaBN; default 30, which cost at most a point on every set measured)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per batch of the statistics pass")
    p.add_argument("--resample", action=argparse.BooleanOptionalAction, default=False,
                   help="resample files at another rate instead of failing")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                   help="replace an OUT/last.pt that exists")
    p.add_argument("--quiet", action=argparse.BooleanOptionalAction, default=False, help="no per-device lines")
    return p


def _run(ns: argparse.Namespace) -> int:
    try:
        report = adapt_checkpoint(ns.checkpoint, recordings_of(ns.device), ns.out, resample=ns.resample,
                                  max_windows=ns.max_windows, batch_size=ns.batch_size, prior=ns.prior,
                                  overwrite=ns.overwrite, quiet=ns.quiet)
    except USER_ERRORS as e:  # a NaN or inf file's NonFiniteError included (an AudioFileError and a ValueError)
        raise SystemExit(f"lightops adapt: {e}") from e
    if not ns.quiet:
        print(f"wrote {ns.out}/last.pt with device models for {', '.join(report['devices'])}", flush=True)
    return 0


add_parser, main = subcommand("adapt", "device models from unlabeled recordings of each device (batch-norm "
                                       "statistics)", "Adapt a model's batch-norm statistics to devices.",
                              add_arguments, _run)
