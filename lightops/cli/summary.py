"""``lightops summary``: a model's per-layer table, torchinfo cross-check, totals and budget verdict."""
import argparse
from typing import Any, Optional, Tuple

import lightops
from lightops.profiling import BUDGETS, BudgetCheck, check_budget, profile
from lightops.profiling.dcase import dcase_complexity
from lightops.validation import check_int

from ._args import non_negative_int, parse_size

__all__ = ["summary_text", "add_parser"]


def summary_text(name: str, input_size: Optional[Tuple[int, int, int]] = None, depth: Optional[int] = None
                 ) -> Tuple[str, Optional[BudgetCheck]]:
    """Per-layer table (lightops.profile), torchinfo cross-check, totals and budget verdict for model ``name``.

    Args:
        name: a registered model name.
        input_size: ``(C, F, T)`` (None: the model's ``input_size``).
        depth: expand modules down to this depth (None or 0: the flat table whose MACs add up to the total).

    Returns:
        The text and the budget check (None for a model without a budget).

    Raises:
        ValueError: a negative ``depth``, an unknown model or an input the model cannot take.
    """
    from torchinfo import summary

    check_int(depth, "depth", minimum=0, optional=True)

    model = lightops.create_model(name).eval()
    size = tuple(input_size or model.pretrained_cfg["input_size"])
    prof = profile(model, size)
    lines = [prof.table(depth=depth) if depth else str(prof)]
    info = summary(model, input_size=(1, *size), verbose=0, device="cpu")
    diff = info.total_mult_adds - prof.total_macs
    lines.append(f"torchinfo mult-adds  {info.total_mult_adds:,} ({diff:+,} vs the table)")
    if diff:
        lines.append("  torchinfo counts conv/linear bias and BatchNorm affine parameters as mult-adds and gives "
                     "parametrized weights (OSC exact) 0 MACs; the table uses the operators' own formulas, "
                     "which FlopCounterMode confirms.")
    held, fp16 = dcase_complexity(model, size), dcase_complexity(model, size, dtype="fp16")
    lines.append(f"DCASE 2025 counting (lightops complexity): {held}; at fp16 {fp16.param_bytes:,} B, "
                 f"{'passes' if fp16.ok else 'fails'}")
    check = None
    if name in BUDGETS:
        budget = BUDGETS[name]
        check = check_budget(model, budget)
        lines.append(f"budget ({budget.label}): {check}")
    return "\n".join(lines), check


def _run(args: argparse.Namespace) -> int:
    try:
        text, check = summary_text(args.name, args.input, args.depth)
    except (ValueError, TypeError) as err:
        raise SystemExit(f"lightops summary: {err}") from None
    print(text)
    return 1 if check is not None and not check.ok else 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``summary`` to the subcommands."""
    p = sub.add_parser("summary", help="per-layer table (name, type, output shape, params, MACs) and budget verdict")
    p.add_argument("name", help="model name, e.g. dssdn_small (see lightops.list_models())")
    p.add_argument("--input", type=parse_size, default=None, help="input C,F,T (default: the model's input_size)")
    p.add_argument("--depth", type=non_negative_int, default=None,
                   help="expand modules down to this depth, 1 or more (default, or 0: the flat table)")
    p.set_defaults(func=_run)
    return p
