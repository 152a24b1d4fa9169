"""The ``lightops`` command: one module per subcommand, each with an ``add_parser(subparsers)``.

Nothing in the library imports this package; it sits on top of every layer.
"""
import argparse
import sys
from typing import Optional, Sequence

import lightops

from . import adapt as adapt_command
from . import bench, budget, complexity, demo, eval, export, finetune, logits, ops, package, predict, summary, train
from . import quantize as quantize_command
from ._args import parse_size
from .budget import budget_table
from .ops import op_table
from .summary import summary_text

__all__ = ["main", "build_parser", "parse_size", "op_table", "budget_table", "summary_text"]

_COMMANDS = (demo, ops, summary, train, eval, logits, export, predict, bench, budget, complexity, finetune,
             adapt_command, package, quantize_command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lightops`` command."""
    parser = argparse.ArgumentParser(prog="lightops", description=lightops.__doc__)
    parser.add_argument("--version", action="version", version=f"lightops {lightops.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``lightops`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
