"""``lightops package``: a pip-installable DCASE 2025 Task 1 submission package from a checkpoint."""
import argparse

from lightops.deploy.package import build_package
from lightops.deploy.submission import DTYPES

from ._args import subcommand
from .complexity import report_lines
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops package`` options to ``p``."""
    p.add_argument("checkpoint", help="a last.pt from lightops train or lightops finetune --per-device")
    p.add_argument("--name", required=True, help="the package's import name, e.g. Lastname_Inst_task1_1")
    p.add_argument("--out", required=True, help="the package's folder (pip install OUT installs it)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp16",
                   help="dtype the parameters are stored and counted at (default fp16, as the DCASE 2025 baseline)")
    p.add_argument("--version", default="0.1.0", help="the package's version (default 0.1.0)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of a checkpoint")
    p.add_argument("--quiet", action="store_true", help="no summary")
    return p


def _run(args: argparse.Namespace) -> int:
    try:
        report = build_package(args.checkpoint, args.name, args.out, dtype=args.dtype, version=args.version,
                               overwrite=args.overwrite, trusted=args.trust_checkpoint)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops package: {e}") from e
    if not args.quiet:
        print("\n".join(report_lines(report)))
        print(f"wrote {args.out}: pip install {args.out}")
    return 0 if report["ok"] else 1


add_parser, main = subcommand("package", "write a pip-installable DCASE 2025 submission package from a checkpoint",
                              "Write a DCASE 2025 Task 1 submission package.", add_arguments, _run)
