"""``lightops export``: fuse a model and export it to ONNX, checked with onnxruntime."""
import argparse
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``export`` to the subcommands."""
    from lightops.deploy import add_export_arguments, main_export

    p = add_export_arguments(sub.add_parser("export", help="fuse and export a model to ONNX, checked with "
                                                           "onnxruntime"))
    p.set_defaults(func=main_export)
    return p
