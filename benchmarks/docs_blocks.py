"""Generated blocks of the docs: the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` of a page."""
from pathlib import Path

__all__ = ["write_block"]


def write_block(path: str, name: str, text: str) -> None:
    """Replace the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in ``path``."""
    page = Path(path).read_text()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin not in page or end not in page:
        raise SystemExit(f"{path}: markers {begin} / {end} not found")
    head, rest = page.split(begin, 1)
    Path(path).write_text(f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}")
