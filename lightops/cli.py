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


def cmd_export(args: argparse.Namespace) -> int:
    """``lightops export``: fuse, export to ONNX, check with onnx.checker and onnxruntime parity."""
    from .deploy import main_export

    return main_export(args)


def cmd_bench(args: argparse.Namespace) -> int:
    """``lightops bench``: run benchmarks/run.py from a source checkout (docs/benchmarks.md and the PNG)."""
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
    if not script.is_file():
        raise SystemExit(f"lightops bench: {script} not found; the benchmarks ship with the source repository")
    cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
    return subprocess.call(cmd, cwd=script.parents[1])


def _section(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def cmd_demo(args: argparse.Namespace) -> int:
    """The README's main job: operators, models and budgets, per-layer tables, latency, a short training."""
    from .profiling import latency, profile
    from .train import TrainConfig, train

    _section("Operators (in_chs = out_chs = 64 on (64, 64, 108))")
    print(op_table(64, (64, 64, 108)))
    _section("Models against their budgets (DESIGN.md)")
    print(budget_table())
    for name in lightops.list_models():
        model = lightops.create_model(name).eval()
        size = tuple(model.pretrained_cfg["input_size"])
        _section(f"{name}: per-layer MACs and params on {size}")
        print(profile(model, size).table(by_type=False))
    _section("Latency, batch 1, 1 thread, eager fp32 (median of repeated runs)")
    print(f"{'model':<14} {'input (C, F, T)':<18} {'median ms':>10} {'p10-p90 ms':>14}")
    for name in lightops.list_models():
        model = lightops.create_model(name).eval()
        for size in ((1, 256, 44), (1, 256, 431)):
            r = latency(model, size, threads=1, repeats=args.repeats)
            print(f"{name:<14} {str(size):<18} {r.median_ms:>10.2f} {r.p10_ms:>6.2f}-{r.p90_ms:<7.2f}")
    _section(f"Training dssdn_small on the embedded synthetic scenes ({args.epochs} epochs, {args.clips} clips)")
    result = train(TrainConfig(model="dssdn_small", data="synthetic", out=args.out, epochs=args.epochs,
                               num_clips=args.clips, batch_size=32, seed=0, cache=True, overwrite=True, threads=1))
    def pct(x: Optional[float]) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} %"

    print(f"\ndssdn_small on synthetic scenes: accuracy {pct(result['accuracy'])} (seen devices "
          f"{pct(result['seen']['accuracy'])}, unseen {pct(result['unseen']['accuracy'])}), log loss "
          f"{result['log_loss']:.3f}; outputs in {args.out}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lightops`` command."""
    parser = argparse.ArgumentParser(prog="lightops", description=lightops.__doc__)
    parser.add_argument("--version", action="version", version=f"lightops {lightops.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="the main job: operator and model tables, latency, a short training")
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    p.add_argument("--clips", type=int, default=1000, help="synthetic training clips (default 1000)")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per latency figure (default 30)")
    p.add_argument("--out", default="runs/demo", help="training output folder (default runs/demo)")
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
    from .deploy import add_export_arguments
    from .train import add_eval_parser, add_train_parser

    add_train_parser(sub)
    add_eval_parser(sub)
    p = add_export_arguments(sub.add_parser("export", help="fuse and export a model to ONNX, checked with onnxruntime"))
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("bench", help="run the benchmarks and regenerate docs/benchmarks.md (source checkout)")
    p.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    p.set_defaults(func=cmd_bench)
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
