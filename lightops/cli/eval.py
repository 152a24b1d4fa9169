"""``lightops eval``: evaluate a training checkpoint on the evaluate split."""
import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``eval`` to the subcommands."""
    from lightops.train import add_eval_parser

    return add_eval_parser(sub)
