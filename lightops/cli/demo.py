"""``lightops demo``: the README's main job (operator and model tables, budgets, latency, a short training)."""
import argparse
import os
from typing import Any, Dict, Optional, Sequence, Tuple

import lightops
from lightops._factory import model_label
from lightops.train.config import SYNTHETIC_TRAIN_CLIPS

from .budget import budget_table
from .ops import op_table

__all__ = ["add_parser", "comparison_table", "DEMO_MODELS"]

DEMO_MODELS: Tuple[Tuple[str, Dict[str, Any]], ...] = (("dssdn_small", {}), ("dcase2025_baseline", {}))
"""The models the demo trains side by side, as (name, model arguments): the lightops model for DCASE-sized budgets
as registered (the full-band stem and the Haar split, ahead of the DCASE 2025 baseline overall and on unseen devices
in docs/models.md) and the field's baseline."""


def _section(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _run(args: argparse.Namespace) -> int:
    import torch

    from lightops.profiling import latency, profile
    from lightops.train import train

    _section("Operators (in_chs = out_chs = 64 on (64, 64, 108))")
    print(op_table(64, (64, 64, 108)))
    _section("Models against their budgets (DESIGN.md)")
    print(budget_table())
    shown = [(name, {}) for name in lightops.list_models()]
    shown += [m for m in DEMO_MODELS if m not in shown]
    labels = [model_label(*m) for m in DEMO_MODELS]
    for name, kwargs in shown:
        model = lightops.create_model(name, **kwargs).eval()
        size = tuple(model.pretrained_cfg["input_size"])
        _section(f"{model_label(name, kwargs)}: per-layer MACs and params on {size}")
        print(profile(model, size).table(by_type=False))
    _section("Latency, batch 1, 1 thread, eager fp32 (median of repeated runs)")
    print(f"{'model':<20} {'input (C, F, T)':<18} {'median ms':>10} {'p10-p90 ms':>14}")
    for name, kwargs in shown:
        model = lightops.create_model(name, **kwargs).eval()
        for size in ((1, 256, 44), (1, 256, 431)):
            r = latency(model, size, threads=1, repeats=args.repeats)
            label = model_label(name, kwargs)
            print(f"{label:<20} {str(size):<18} {r.median_ms:>10.2f} {r.p10_ms:>6.2f}-{r.p90_ms:<7.2f}")
    _section(f"Training {' and '.join(labels)} side by side on the embedded synthetic scenes: the same "
             f"{args.clips} clips, {args.epochs} epochs, front end {args.sample_rate // 1000} kHz / {args.n_mels} mel "
             f"bins")
    torch.set_num_threads(1)  # process-wide settings belong to the command, not to the library
    results = [train(_demo_config(args, name, kwargs)) for name, kwargs in DEMO_MODELS]
    print()
    print(comparison_table(results))
    print(f"(chance is {_pct(1 / len(results[0]['classes']))}; seen devices {', '.join(results[0]['seen']['devices'])}"
          f", unseen {', '.join(results[0]['unseen']['devices'])}; outputs in {args.out}/<model>/)")
    return 0


def _demo_config(args: argparse.Namespace, name: str, kwargs: Dict[str, Any]) -> Any:
    from lightops.train import TrainConfig

    return TrainConfig(model=name, model_kwargs=dict(kwargs), data="synthetic", out=os.path.join(args.out, name),
                       epochs=args.epochs, num_clips=args.clips, sample_rate=args.sample_rate, n_fft=args.n_fft,
                       hop_length=args.hop_length, n_mels=args.n_mels, seed=0, cache=True, overwrite=True)


def comparison_table(results: Sequence[Dict[str, Any]]) -> str:
    """A text table of finished training runs (``lightops.train.train`` results), one row per model."""
    head = (f"{'model':<20} {'params':>8} {'fp16 bytes':>10} {'MMACs':>7} {'s/epoch':>8} {'accuracy':>9} {'seen':>7} "
            f"{'unseen':>7} {'log loss':>8}")
    lines = [head, "-" * len(head)]
    for r in results:
        label = model_label(r["model"], r.get("model_kwargs"))
        lines.append(f"{label:<20} {r['params']:>8,} {2 * r['params']:>10,} {r['macs'] / 1e6:>7.1f} "
                     f"{r['mean_train_seconds_per_epoch']:>8.1f} {_pct(r['accuracy']):>9} "
                     f"{_pct(r['seen']['accuracy']):>7} {_pct(r['unseen']['accuracy']):>7} {r['log_loss']:>8.3f}")
    return "\n".join(lines)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``demo`` to the subcommands."""
    p = sub.add_parser("demo", help="the main job: operator and model tables, latency, a short training")
    p.add_argument("--epochs", type=int, default=15, help="training epochs of each model (default 15)")
    p.add_argument("--clips", type=int, default=SYNTHETIC_TRAIN_CLIPS,
                   help=f"synthetic training clips (default {SYNTHETIC_TRAIN_CLIPS})")
    # 16 kHz and 64 mel bins keep the demo's two trainings within about a minute each on two cores; the models and
    # the recipe are those of the default 44.1 kHz / 256-bin front end (`lightops train` uses that one)
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz of the synthetic clips (default 16000)")
    p.add_argument("--n-fft", type=int, default=1024, help="front end FFT size (default 1024)")
    p.add_argument("--hop-length", type=int, default=256, help="front end hop (default 256)")
    p.add_argument("--n-mels", type=int, default=64, help="mel bins (default 64)")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per latency figure (default 30)")
    p.add_argument("--out", default="runs/demo", help="training output folder (default runs/demo)")
    p.set_defaults(func=_run)
    return p
