"""``lightops train``: train a scene classifier (one process, or one rank under ``torchrun``)."""
import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``train`` to the subcommands."""
    from lightops.train import add_train_parser

    return add_train_parser(sub)
