"""Argument types shared by the ``lightops`` subcommands."""
import argparse
import json
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

__all__ = ["parse_size", "json_dict", "subcommand"]


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


def subcommand(name: str, help: str, description: str,
               add_arguments: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
               run: Callable[[argparse.Namespace], int]) -> Tuple[Callable[[Any], argparse.ArgumentParser],
                                                                 Callable[[Optional[Sequence[str]]], int]]:
    """The ``add_parser(subparsers)`` and ``main(argv)`` of a ``lightops`` subcommand, from its options and body.

    Args:
        name: the subcommand, e.g. ``"train"``.
        help: its one-line help in ``lightops --help``.
        description: its description as a stand-alone command.
        add_arguments: adds its options to a parser.
        run: runs it on parsed options; returns the exit code.
    """

    def add_parser(sub: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        add_arguments(p)
        p.set_defaults(func=run)
        return p

    def main(argv: Optional[Sequence[str]] = None) -> int:
        p = argparse.ArgumentParser(prog=f"lightops {name}", description=description)
        add_arguments(p)
        return run(p.parse_args(argv))

    add_parser.__doc__ = f"Add ``{name}`` to the subcommands of ``lightops``."
    main.__doc__ = f"``lightops {name}`` as a function: parse ``argv`` and run; returns the exit code."
    return add_parser, main
