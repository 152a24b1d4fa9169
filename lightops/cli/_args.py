"""Argument types shared by the ``lightops`` subcommands."""
import argparse
import json
from typing import Any, Dict, Tuple

__all__ = ["parse_size", "json_dict"]


def parse_size(text: str) -> Tuple[int, int, int]:
    """Parse ``"C,F,T"`` into a tuple of three positive ints (argparse type)."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,F,T as three positive ints, got {text!r}")
    return size  # type: ignore[return-value]


def json_dict(text: str) -> Dict[str, Any]:
    """Parse a JSON object such as ``'{"width": 0.5}'`` (argparse type)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"width\": 0.5}}', got {text!r}: {e}") \
            from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"width\": 0.5}}', got {text!r}")
    return value
