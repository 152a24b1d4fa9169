"""``lightops budget``: every model against its budget (DESIGN.md, DCASE Task 1)."""
import argparse
from typing import Any, List, Optional, Tuple

import lightops
from lightops.profiling import BUDGETS, check_budget

__all__ = ["budget_rows", "budget_table", "add_parser"]

_HEAD = ["model", "operator", "params", "MACs, 10-s (1,256,431)", "MACs, 1-s (1,256,44)", "budget", "verdict"]


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


def budget_table(markdown: bool = False, rows: Optional[List[List[str]]] = None) -> str:
    """Params and MACs (10-s and 1-s clips) of every lightops model against its budget, as text or Markdown.

    Args:
        markdown: a Markdown table (as in docs/models.md) instead of aligned text.
        rows: rows from :func:`budget_rows` (computed when None).
    """
    rows = budget_rows()[0] if rows is None else rows
    if markdown:
        lines = ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(_HEAD, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*_HEAD), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def _run(args: argparse.Namespace) -> int:
    rows, all_ok = budget_rows()
    print(budget_table(markdown=args.markdown, rows=rows))
    return 0 if all_ok else 1


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``budget`` to the subcommands."""
    p = sub.add_parser("budget", help="params and MACs of every model against its budget (DESIGN.md)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/models.md)")
    p.set_defaults(func=_run)
    return p
