"""``lightops demo``: the README's main job (operator and model tables, budgets, latency, a short training)."""
import argparse
from typing import Any, Optional

import lightops
from lightops.train.config import SYNTHETIC_TRAIN_CLIPS

from .budget import budget_table
from .ops import op_table

__all__ = ["add_parser"]


def _section(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _run(args: argparse.Namespace) -> int:
    import torch

    from lightops.profiling import latency, profile
    from lightops.train import TrainConfig, train

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
    torch.set_num_threads(1)  # process-wide settings belong to the command, not to the library
    result = train(TrainConfig(model="dssdn_small", data="synthetic", out=args.out, epochs=args.epochs,
                               num_clips=args.clips, batch_size=32, seed=0, cache=True, overwrite=True))
    print(f"\ndssdn_small on synthetic scenes: accuracy {_pct(result['accuracy'])} (seen devices "
          f"{_pct(result['seen']['accuracy'])}, unseen {_pct(result['unseen']['accuracy'])}), log loss "
          f"{result['log_loss']:.3f}; outputs in {args.out}/")
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``demo`` to the subcommands."""
    p = sub.add_parser("demo", help="the main job: operator and model tables, latency, a short training")
    p.add_argument("--epochs", type=int, default=8, help="training epochs (default 8)")
    p.add_argument("--clips", type=int, default=SYNTHETIC_TRAIN_CLIPS,
                   help=f"synthetic training clips (default {SYNTHETIC_TRAIN_CLIPS})")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per latency figure (default 30)")
    p.add_argument("--out", default="runs/demo", help="training output folder (default runs/demo)")
    p.set_defaults(func=_run)
    return p
