"""Argument types shared by the ``lightops`` subcommands, the options generated from a config dataclass, and the
output-folder handling of the commands that write one (``train``, ``eval``, ``quantize``)."""
import argparse
import dataclasses
import json
import os
import typing
from contextlib import contextmanager
from typing import Any, Callable, Collection, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

__all__ = ["parse_size", "non_negative_int", "json_dict", "subcommand", "add_config_arguments", "given_options",
           "check_out_folder", "removed_if_empty_on_failure"]


def parse_size(text: str) -> Tuple[int, int, int]:
    """Parse ``"C,F,T"`` into a tuple of three positive ints (argparse type)."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,F,T as three positive ints, got {text!r}")
    return size  # type: ignore[return-value]


def non_negative_int(text: str) -> int:
    """Parse an int of 0 or more (argparse type; argparse names the option in its error)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int of 0 or more, got {text!r}")
    return value


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


def _kind(hint: Any) -> Any:
    """The type of a field's values: ``Optional[X]`` -> ``X``; ``Dict[...]`` -> dict; ``Tuple[X, ...]`` -> tuple."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:
        hint = args[0]
    return typing.get_origin(hint) or hint


def _shown(value: Any) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def _help(f: dataclasses.Field, presets: Mapping[str, Mapping[str, Any]]) -> str:
    """The field's help text, its default (unless None or empty: the text says what happens) and preset values."""
    text = f.metadata["help"]
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
    notes = [] if default is None or default in ((), {}) else [f"default {_shown(default)}"]
    notes += [f"{name}: {_shown(values[f.name])}" for name, values in presets.items() if f.name in values]
    return (f"{text} ({'; '.join(notes)})" if notes else text).replace("%", "%%")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, names: Optional[Collection[str]] = None, *,
                         explicit_only: bool = False, presets: Optional[Mapping[str, Mapping[str, Any]]] = None,
                         groups: Optional[Mapping[str, Tuple[str, str]]] = None) -> argparse.ArgumentParser:
    """Add one option per field of the dataclass ``cls`` that has a help text (``field(metadata={"help": ...})``).

    The option is ``--field-name`` (or the field's ``flag``), with the field's type, ``choices`` and ``metavar``; a
    bool field gives ``--name`` / ``--no-name``, a dict field a JSON object, a tuple field one or more values.
    Its help is the field's, with the default and the preset values appended.

    Args:
        parser: where to add the options.
        cls: the dataclass, e.g. :class:`lightops.train.TrainConfig`.
        names: only these fields (None: all), in the order of the dataclass.
        explicit_only: leave options that are not given out of the namespace (``argparse.SUPPRESS``), so that
            :func:`given_options` returns only what the user typed; otherwise the field's default is the default.
        presets: named sets of field values (e.g. ``RECIPES``) whose values the help lists.
        groups: ``group name -> (title, description)`` of the help sections the fields' ``group`` names.
    """
    hints = typing.get_type_hints(cls)
    sections: Dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata or (names is not None and f.name not in names):
            continue
        meta, kind = f.metadata, _kind(hints[f.name])
        kw: Dict[str, Any] = dict(help=_help(f, {k: v for k, v in (presets or {}).items() if v}))
        if kind is bool:
            kw["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            kw["type"] = json_dict
        elif kind is tuple:
            kw["nargs"] = "+"
        else:
            kw["type"] = kind
        kw.update({k: meta[k] for k in ("choices", "metavar") if k in meta})
        if explicit_only:
            kw["default"] = argparse.SUPPRESS
        else:
            kw["default"] = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore
        group = meta.get("group")
        target: Any = parser
        if group and groups and group in groups:
            target = sections.get(group) or sections.setdefault(group, parser.add_argument_group(*groups[group]))
        target.add_argument(meta.get("flag", "--" + f.name.replace("_", "-")), dest=f.name, **kw)
    return parser


def given_options(ns: argparse.Namespace, cls: type, names: Optional[Collection[str]] = None) -> Dict[str, Any]:
    """The values in ``ns`` of the fields of the dataclass ``cls`` (only ``names`` when given; tuples as tuples)."""
    out = {f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)
           if hasattr(ns, f.name) and (names is None or f.name in names)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in out.items()}


def check_out_folder(path: Optional[str], option: str = "--out") -> None:
    """Refuse an output folder option naming something that exists and is not a folder (None: not given).

    Raises:
        ValueError: ``path`` is a file (the message names the option and the file).
    """
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{option} must be a folder, but {path} is a file; give a folder (created if missing)")


def _missing_folders(path: str) -> List[str]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing: List[str] = []
    path = os.path.abspath(path)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


@contextmanager
def removed_if_empty_on_failure(folder: Optional[str]) -> Iterator[None]:
    """Remove, when the ``with`` body raises, the folders of ``folder``'s path that did not exist on entry and are
    empty then, deepest first: a failed command leaves no empty output folder behind. A folder that existed before,
    or that holds anything, is never removed (``os.rmdir`` removes empty folders only)."""
    missing = _missing_folders(folder) if folder else []
    try:
        yield
    except BaseException:
        for path in missing:
            try:
                os.rmdir(path)
            except FileNotFoundError:  # not made (the command failed before)
                continue
            except OSError:  # something was written in it: it and its parents stay
                break
        raise
