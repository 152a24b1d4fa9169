"""Generated blocks of the docs pages: the one marker syntax, reading and writing a block.

A block is the text between a line ``<!-- BEGIN name -->`` and a line ``<!-- END name -->`` of a page. Every script
that writes a docs figure writes it through :func:`write_block`; :mod:`benchmarks.docs.registry` names every block,
its page and the command that writes it.
"""
from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path
from typing import List, Tuple, Union

__all__ = ["MARKER", "WIDTH", "wrap", "markers", "find_blocks", "read_block", "replace_block", "write_block",
           "add_block_arguments", "publish"]

MARKER = re.compile(r"^<!-- BEGIN ([\w-]+) -->$", re.M)
"""A block's opening line; its group is the block's name."""
WIDTH = 116  # prose lines of generated blocks are wrapped to this width, like the hand-written ones


def wrap(text: str) -> str:
    """Wrap one paragraph of prose to :data:`WIDTH` columns."""
    return "\n".join(textwrap.wrap(text, WIDTH, break_on_hyphens=False, break_long_words=False))


def markers(name: str) -> Tuple[str, str]:
    """The opening and closing lines of block ``name``."""
    return f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"


def find_blocks(text: str) -> List[str]:
    """Names of the blocks opened in ``text``, in page order."""
    return MARKER.findall(text)


def _split(text: str, name: str, where: str) -> Tuple[str, str, str]:
    begin, end = markers(name)
    if begin not in text or end not in text.split(begin, 1)[1]:
        raise KeyError(f"{where}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    body, tail = rest.split(end, 1)
    return head, body, tail


def read_block(path: Union[str, Path], name: str) -> str:
    """The text of block ``name`` on page ``path``, stripped.

    Raises:
        KeyError: the page has no such pair of markers.
    """
    return _split(Path(path).read_text(encoding="utf-8"), name, str(path))[1].strip()


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the body of block ``name`` replaced by ``body`` (markers kept, one newline either side)."""
    head, _, tail = _split(text, name, "text")
    begin, end = markers(name)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def write_block(path: Union[str, Path], name: str, body: str) -> None:
    """Replace the body of block ``name`` on page ``path`` with ``body``.

    Raises:
        SystemExit: the page has no such pair of markers (its message names the page and the markers).
    """
    page = Path(path)
    try:
        page.write_text(replace_block(page.read_text(encoding="utf-8"), name, body), encoding="utf-8")
    except KeyError as e:
        raise SystemExit(f"{page}: {e.args[0].split(': ', 1)[1]}") from None


def add_block_arguments(parser: argparse.ArgumentParser, page: Union[str, Path], block: str) -> None:
    """``--docs`` (default ``page``), ``--block`` (default ``block``) and ``--no-docs`` on ``parser``."""
    parser.add_argument("--docs", default=str(page), help="page of the block")
    parser.add_argument("--block", default=block, help=f"name of the block in --docs (default {block})")
    parser.add_argument("--no-docs", action="store_true", help="do not write the docs block")


def publish(args: argparse.Namespace, text: str) -> None:
    """Print ``text`` and, unless ``args.no_docs``, write it as block ``args.block`` of ``args.docs``."""
    print(text)
    if not args.no_docs:
        write_block(args.docs, args.block, text)

