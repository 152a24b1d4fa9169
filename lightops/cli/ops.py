"""``lightops ops``: params and MACs of every registered operator."""
import argparse
from typing import Any, List, Tuple

import lightops

from ._args import parse_size

__all__ = ["op_table", "add_parser"]


def op_table(chs: int, input_size: Tuple[int, int, int]) -> str:
    """Params and MACs of every registered operator with ``in_chs = out_chs = chs`` on ``input_size``."""
    rows: List[Tuple[str, str, int, int]] = []
    for name in lightops.list_ops():
        op = lightops.create_op(name, chs, chs)
        rows.append((name, type(op).__name__, op.params(), op.macs(input_size)))
    header = f"{'op':<6} {'class':<26} {'params':>10} {'MACs':>14}"
    lines = [f"operators, in_chs = out_chs = {chs}, input (C, F, T) = {input_size}", header, "-" * len(header)]
    lines += [f"{n:<6} {c:<26} {p:>10,} {m:>14,}" for n, c, p, m in rows]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    size = args.input or (args.chs, 64, 108)
    if size[0] != args.chs:
        raise SystemExit(f"lightops ops: --input has C={size[0]} but --chs is {args.chs}")
    print(op_table(args.chs, size))
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``ops`` to the subcommands."""
    p = sub.add_parser("ops", help="params and MACs of every registered operator")
    p.add_argument("--chs", type=int, default=64, help="in_chs = out_chs (default 64)")
    p.add_argument("--input", type=parse_size, default=None, help="input C,F,T (default CHS,64,108)")
    p.set_defaults(func=_run)
    return p
