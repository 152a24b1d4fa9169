"""The ``lightops`` command: ``lightops demo``, ``lightops ops``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence, Tuple

import lightops


def parse_size(text: str) -> Tuple[int, int, int]:
    """Parse ``"C,F,T"`` into a tuple of three positive ints (argparse type)."""
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,F,T as three positive ints, got {text!r}")
    return size  # type: ignore[return-value]


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


def cmd_ops(args: argparse.Namespace) -> int:
    """Print the operator table."""
    size = args.input or (args.chs, 64, 108)
    if size[0] != args.chs:
        raise SystemExit(f"lightops ops: --input has C={size[0]} but --chs is {args.chs}")
    print(op_table(args.chs, size))
    return 0


def budget_table(markdown: bool = False) -> str:
    """Params and MACs (10-s and 1-s clips) of every lightops model against its budget from DESIGN.md."""
    from .profiling.budget import BUDGETS, check_budget

    head = ["model", "operator", "params", "MACs, 10-s (1,256,431)", "MACs, 1-s (1,256,44)", "budget", "verdict"]
    rows = []
    for name in lightops.list_models():
        model = lightops.create_model(name)
        budget = BUDGETS[name]
        check = check_budget(model, budget)
        ops = ",".join(sorted({b.op for b in model.cfg.blocks}))
        budget_text = f"<= {budget.max_params / 1e3:,.0f}K params, <= {budget.max_macs / 1e6:,.0f}M MACs on " \
                      f"{'10-s' if budget.input_size[2] == 431 else '1-s'}"
        rows.append([name, ops, f"{check.params:,}", f"{model.macs((1, 256, 431)):,}", f"{model.macs((1, 256, 44)):,}",
                     budget_text, "within" if check.ok else "OVER"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows])


def cmd_budget(args: argparse.Namespace) -> int:
    """Print the budget table; exit 1 if a model is over budget."""
    table = budget_table(markdown=args.markdown)
    print(table)
    return 1 if "OVER" in table else 0


def summary_text(name: str, input_size: Optional[Tuple[int, int, int]] = None, depth: Optional[int] = None) -> str:
    """Per-layer table (lightops.profile), torchinfo cross-check, totals and budget verdict for model ``name``."""
    from torchinfo import summary

    from .profiling import BUDGETS, check_budget, profile

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
    if name in BUDGETS:
        budget = BUDGETS[name]
        lines.append(f"budget ({budget.label}): {check_budget(model, budget)}")
    return "\n".join(lines)


def cmd_summary(args: argparse.Namespace) -> int:
    """Print a model's summary; exit 1 if it is over its budget."""
    try:
        text = summary_text(args.name, args.input, args.depth)
    except ValueError as err:
        raise SystemExit(f"lightops summary: {err}") from None
    print(text)
    return 1 if "OVER BUDGET" in text else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's main job."""
    print(op_table(64, (64, 64, 108)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lightops`` command."""
    parser = argparse.ArgumentParser(prog="lightops", description=lightops.__doc__)
    parser.add_argument("--version", action="version", version=f"lightops {lightops.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="the main job: operator and model tables, latency, a short training")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("ops", help="params and MACs of every registered operator")
    p.add_argument("--chs", type=int, default=64, help="in_chs = out_chs (default 64)")
    p.add_argument("--input", type=parse_size, default=None, help="input C,F,T (default CHS,64,108)")
    p.set_defaults(func=cmd_ops)
    p = sub.add_parser("summary", help="per-layer table (name, type, output shape, params, MACs) and budget verdict")
    p.add_argument("name", help="model name, e.g. dssdn_small (see lightops.list_models())")
    p.add_argument("--input", type=parse_size, default=None, help="input C,F,T (default: the model's input_size)")
    p.add_argument("--depth", type=int, default=None, help="expand modules down to this depth")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("budget", help="params and MACs of every model against its budget (DESIGN.md)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/models.md)")
    p.set_defaults(func=cmd_budget)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``lightops`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
