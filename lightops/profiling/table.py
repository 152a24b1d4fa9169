"""Plain-text formatting shared by the profiling reports: counts, byte sizes, aligned tables."""
from __future__ import annotations

from typing import Any, List, Sequence

__all__ = ["format_count", "format_bytes", "format_shape", "render_table"]

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def format_count(n: float, digits: int = 2) -> str:
    """A count with a decimal SI suffix: ``28_123_456 -> "28.12 M"``, ``999 -> "999"``.

    Args:
        n: the number (MACs, parameters).
        digits: decimals kept after scaling.

    Returns:
        The formatted string.
    """
    for scale, suffix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {suffix}"
    return f"{n:.0f}" if float(n).is_integer() else f"{n:.{digits}f}"


def format_bytes(n: float, digits: int = 1) -> str:
    """A byte size in decimal units (``kB`` = 1000 B, as the DCASE limits are written): ``118_842 -> "118.8 kB"``.

    Args:
        n: bytes.
        digits: decimals kept after scaling.

    Returns:
        The formatted string.
    """
    for scale, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {suffix}"
    return f"{int(n)} B"


def format_shape(shape: Any) -> str:
    """``[1, 8, 4, 4] -> "(1, 8, 4, 4)"``; nested lists (tuple outputs) are joined; ``None -> "-"``."""
    if shape is None:
        return "-"
    if shape and isinstance(shape[0], (list, tuple)):
        return " ".join(format_shape(s) for s in shape)
    return "(" + ", ".join(str(d) for d in shape) + ")"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """Render ``rows`` under ``headers`` as an aligned plain-text table with a rule below the header.

    Args:
        headers: column titles.
        rows: one sequence of cells per row (converted with ``str``).
        align: one character per column, ``"l"`` or ``"r"`` (default: first column left, the rest right).

    Returns:
        The table, lines joined with ``"\\n"`` (no trailing newline).
    """
    align = align or "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers):
        raise ValueError(f"render_table: align must have one character per column ({len(headers)}), got {align!r}")
    cells: List[List[str]] = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: List[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])
