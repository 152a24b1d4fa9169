"""DSSDN against common small CNNs on the synthetic scenes, with one recipe for all models.

Trains dssdn_large, dssdn_middle, dssdn_small, timm's mobilenetv3_small_050 (in_chans=1) and the DCASE 2020
Task 1 baseline CNN with :func:`lightops.train.train` (same data, front end, epochs, optimizer, schedule, mixup
and SpecAugment), then reports accuracy on the devices seen in training and on unseen ones, log loss, params,
MACs of one clip (each model's ``macs()``, else FlopCounterMode / 2) and training time per epoch. Writes a JSON
file and the Markdown table between the markers ``<!-- compare-table:start -->`` and
``<!-- compare-table:end -->`` of docs/training.md.

    python benchmarks/compare_synthetic.py                      # the settings of docs/training.md
    python benchmarks/compare_synthetic.py --epochs 2 --num-clips 200 --no-docs   # a quick look
    python benchmarks/compare_synthetic.py --from-json benchmarks/compare_synthetic.json   # re-render the table
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from lightops.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["dssdn_large", "dssdn_middle", "dssdn_small", "mobilenetv3_small_050", "dcase2020_baseline"]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; the defaults are the settings of the table in docs/training.md."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS, help="models to compare")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--num-clips", type=int, default=1500, help="synthetic training clips")
    p.add_argument("--num-eval-clips", type=int, default=750, help="synthetic evaluation clips")
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--n-fft", type=int, default=4096)
    p.add_argument("--hop-length", type=int, default=1024)
    p.add_argument("--n-mels", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared CPU")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=0, help="processes that generate the clips (once, then cached)")
    p.add_argument("--amp", action="store_true", help="mixed precision")
    p.add_argument("--eval-every", type=int, default=3, help="evaluate every N epochs (0: after the last only)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "compare_synthetic"), help="folder of the training runs")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "compare_synthetic.json"), help="results file")
    p.add_argument("--docs", default=str(ROOT / "docs" / "training.md"), help="page whose table is replaced")
    p.add_argument("--no-docs", action="store_true", help="do not touch the docs page")
    p.add_argument("--marker", default="compare-table", help="name of the marker pair in the docs page")
    p.add_argument("--from-json", default=None, help="re-render the table of an earlier results file, no training")
    return p.parse_args(argv)


def run_one(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Train and evaluate one model; the row of the table."""
    cfg = TrainConfig(model=name, data="synthetic", out=os.path.join(args.runs, name), overwrite=True,
                      epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, warmup_epochs=args.warmup_epochs,
                      seed=args.seed, sample_rate=args.sample_rate, n_fft=args.n_fft, hop_length=args.hop_length,
                      n_mels=args.n_mels, clip_seconds=args.clip_seconds, num_clips=args.num_clips,
                      num_eval_clips=args.num_eval_clips, threads=args.threads, device=args.device, cache=True,
                      workers=args.workers, amp=args.amp, eval_every=args.eval_every or args.epochs, quiet=True)
    m = train(cfg)
    last = m["history"][-1]
    return dict(model=name, params=m["params"], macs=m["macs"], input_size=m["input_size"],
                accuracy=m["accuracy"], macro_accuracy=m["macro_accuracy"], log_loss=m["log_loss"],
                seen_accuracy=m["seen"]["accuracy"], unseen_accuracy=m["unseen"]["accuracy"],
                seen_devices=m["seen"]["devices"], unseen_devices=m["unseen"]["devices"],
                train_accuracy_last_epoch=last["train_accuracy"], train_loss_last_epoch=last["train_loss"],
                train_accuracy_per_epoch=[h["train_accuracy"] for h in m["history"]],
                eval_accuracy_per_epoch=[h["eval_accuracy"] for h in m["history"]],
                seconds_per_epoch=m["mean_train_seconds_per_epoch"],
                eval_seconds=last["eval_seconds"], wall_seconds=m["wall_seconds"])


def pct(x: Optional[float]) -> str:
    """``0.123 -> "12.3%"``; None (no clips) -> ``"n/a"``."""
    return "n/a" if x is None else f"{x:.1%}"


def markdown(rows: List[Dict[str, Any]], settings: Dict[str, Any]) -> str:
    """The Markdown table (and its settings line) that goes between the markers."""
    head = ("| model | params | MACs / clip | accuracy | seen devices | unseen devices | log loss | "
            "train acc. (last epoch) | s / epoch |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['macs'] / 1e6:.1f} M | {pct(r['accuracy'])} | "
                     f"{pct(r['seen_accuracy'])} | {pct(r['unseen_accuracy'])} | {r['log_loss']:.3f} | "
                     f"{pct(r['train_accuracy_last_epoch'])} | {r['seconds_per_epoch']:.0f} |")
    s = settings
    lines.append("")
    lines.append(f"Settings: {s['num_clips']} training clips (devices {', '.join(rows[0]['seen_devices'])}), "
                 f"{s['num_eval_clips']} evaluation clips (adds unseen {', '.join(rows[0]['unseen_devices'])}), "
                 f"{s['clip_seconds']:g}-s clips at {s['sample_rate'] / 1000:g} kHz, log-mel n_fft {s['n_fft']}, hop "
                 f"{s['hop_length']}, {s['n_mels']} bins (input {tuple(rows[0]['input_size'])}); {s['epochs']} epochs, "
                 f"batch {s['batch_size']}, AdamW lr {s['lr']:g} with {s['warmup_epochs']} warm-up epoch and cosine "
                 f"decay, mixup 0.3, SpecAugment, seed {s['seed']}; "
                 + (f"{s['machine']}{', bf16/fp16 autocast' if s['amp'] else ''}" if s["device"] != "cpu" else
                    f"{s['threads']} thread{'s' if s['threads'] > 1 else ''} on a shared {s['machine']}")
                 + f", torch {s['torch']}. Total {s['total_minutes']:.1f} min.")
    return "\n".join(lines)


def write_docs(path: str, table: str, marker: str = "compare-table") -> None:
    """Replace the text between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->`` of ``path`` with ``table``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = Path(path).read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{path}: markers {start} / {end} not found")
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    Path(path).write_text(pattern.sub(lambda _: f"{start}\n{table}\n{end}", text), encoding="utf-8")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the comparison; print, save the JSON and update the docs table."""
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        table = markdown(saved["rows"], saved["settings"])
        print(table)
        if not args.no_docs:
            write_docs(args.docs, table, args.marker)
        return 0
    t0 = time.perf_counter()
    rows = []
    for name in args.models:
        t = time.perf_counter()
        rows.append(run_one(name, args))
        r = rows[-1]
        train_acc = " ".join(pct(a) for a in r["train_accuracy_per_epoch"])
        print(f"{name:24s} acc {pct(r['accuracy'])} (seen {pct(r['seen_accuracy'])}, unseen "
              f"{pct(r['unseen_accuracy'])}) log loss {r['log_loss']:.3f}  train acc by epoch {train_acc}  "
              f"{r['seconds_per_epoch']:.0f} s/epoch  ({time.perf_counter() - t:.0f} s)", flush=True)
    settings = {k: getattr(args, k) for k in ("epochs", "num_clips", "num_eval_clips", "clip_seconds", "sample_rate",
                                              "n_fft", "hop_length", "n_mels", "batch_size", "lr", "warmup_epochs",
                                              "seed", "threads", "device", "workers", "amp")}
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else None
    settings.update(torch=torch.__version__, machine=gpu or f"{os.cpu_count()}-core {platform.machine()} CPU",
                    total_minutes=(time.perf_counter() - t0) / 60)
    table = markdown(rows, settings)
    print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(dict(settings=settings, rows=rows), indent=2) + "\n", encoding="utf-8")
    if not args.no_docs:
        write_docs(args.docs, table, args.marker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
