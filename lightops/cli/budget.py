"""``lightops budget``: every model against its budget (DESIGN.md, DCASE Task 1)."""
import argparse
from typing import Any, List, Optional, Tuple

import lightops
from lightops.budgets import DCASE2025_INPUT
from lightops.profiling import BUDGETS, check_budget
from lightops.profiling.dcase import dcase_complexity

__all__ = ["budget_rows", "budget_table", "dcase_rows", "add_parser"]

_HEAD = ["model", "operator", "params", "MACs, 10-s (1,256,431)", "MACs, 1-s (1,256,44)", "budget", "verdict"]
_DCASE_HEAD = ["model", "params", "MACs (torchinfo, 1,256,65)", "param bytes as held (fp32)", "param bytes at fp16",
               "DCASE 2025 at fp16"]


def budget_rows() -> Tuple[List[List[str]], bool]:
    """One row per lightops model (see the header of :func:`budget_table`) and whether all are within budget."""
    rows, all_ok = [], True
    for name in lightops.list_models():
        model = lightops.create_model(name)
        budget = BUDGETS[name]
        check = check_budget(model, budget)
        all_ok &= check.ok
        ops = ",".join(sorted({b.op for b in model.cfg.blocks}))
        rows.append([name, ops, f"{check.params:,}", f"{model.macs((1, 256, 431)):,}", f"{model.macs((1, 256, 44)):,}",
                     budget.short_label, "within" if check.ok else "OVER"])
    return rows, all_ok


def dcase_rows(names: Optional[List[str]] = None) -> Tuple[List[List[str]], bool]:
    """One row per model (see ``_DCASE_HEAD``) counted by :func:`~lightops.profiling.dcase.dcase_complexity` on the
    DCASE 2025 baseline's input, and whether all pass at fp16."""
    rows, all_ok = [], True
    for name in names or [*lightops.list_models(), "dcase2025_baseline"]:
        model = lightops.create_model(name)
        held, fp16 = dcase_complexity(model, DCASE2025_INPUT), dcase_complexity(model, DCASE2025_INPUT, "fp16")
        all_ok &= fp16.ok
        rows.append([name, f"{held.params:,}", f"{held.macs:,}", f"{held.param_bytes:,}", f"{fp16.param_bytes:,}",
                     "passes" if fp16.ok else "FAILS"])
    return rows, all_ok


def budget_table(markdown: bool = False, rows: Optional[List[List[str]]] = None,
                 head: Optional[List[str]] = None) -> str:
    """Params and MACs (10-s and 1-s clips) of every lightops model against its budget, as text or Markdown.

    Args:
        markdown: a Markdown table (as in docs/models.md) instead of aligned text.
        rows: rows from :func:`budget_rows` (computed when None).
        head: the header of ``rows`` (default: :func:`budget_rows`' header).
    """
    rows = budget_rows()[0] if rows is None else rows
    header = head or _HEAD
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def _run(args: argparse.Namespace) -> int:
    if args.rules == "dcase2025":
        rows, all_ok = dcase_rows()
        print(budget_table(markdown=args.markdown, rows=rows, head=_DCASE_HEAD))
        return 0 if all_ok else 1
    rows, all_ok = budget_rows()
    print(budget_table(markdown=args.markdown, rows=rows))
    return 0 if all_ok else 1


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``budget`` to the subcommands."""
    p = sub.add_parser("budget", help="params and MACs of every model against its budget (DESIGN.md)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/models.md)")
    p.add_argument("--rules", choices=["design", "dcase2025"], default="design",
                   help="design: every model against its DESIGN.md budget (default); dcase2025: every model and the "
                        "DCASE 2025 baseline counted as the organisers count them (lightops complexity), verdict at "
                        "fp16")
    p.set_defaults(func=_run)
    return p
