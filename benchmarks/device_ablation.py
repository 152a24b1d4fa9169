"""Device-robustness ablation on the synthetic scenes: the default recipe against Freq-MixStyle, device impulse
responses (DIR), both, and ``--recipe dcase`` with and without a dssdn_large teacher, over several seeds.

Every run is one ``lightops train`` process on the same synthetic data (1-s clips; devices a, b, c, s1-s3 in
training, s4-s6 only in evaluation), at equal epochs. The teacher of the ``dcase + KD`` rows is the dssdn_large run
of the same seed trained with ``--recipe dcase`` (an ensemble of one). The script reports, as mean and spread over
seeds: accuracy, accuracy on seen and on unseen devices, their drop, log loss, training seconds per epoch relative
to the default recipe, and per-device accuracy; it writes ``benchmarks/device_ablation.json`` and the tables
between ``<!-- BEGIN device-ablation -->`` and ``<!-- END device-ablation -->`` in docs/training.md, with the
command, date and machine.

::

    python benchmarks/device_ablation.py                    # the settings of docs/training.md
    python benchmarks/device_ablation.py --models dssdn_small --seeds 0 --epochs 2 --clips 200 --no-docs  # a look
    python benchmarks/device_ablation.py --from-json benchmarks/device_ablation.json   # re-render the tables

Finished runs (a ``metrics.json`` in their folder) are reused, so an interrupted ablation continues where it
stopped; ``--fresh`` retrains everything.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_blocks import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARKER = "device-ablation"

# name -> extra `lightops train` options; "{teacher}" is replaced by the teacher checkpoint of the same seed.
CONFIGS: Dict[str, List[str]] = {
    "default": [],
    "+ Freq-MixStyle": ["--freq-mixstyle", "0.4"],
    "+ DIR": ["--dir", "simulated"],
    "+ Freq-MixStyle + DIR": ["--freq-mixstyle", "0.4", "--dir", "simulated"],
    "recipe dcase": ["--recipe", "dcase"],
    "recipe dcase + KD (dssdn_large)": ["--recipe", "dcase", "--teacher", "{teacher}"],
}
TEACHER = ("dssdn_large", "recipe dcase")  # (model, config) whose run of the same seed teaches the KD rows


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options; the defaults are the settings of the table in docs/training.md."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["dssdn_small", "dssdn_large"])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), help="rows to run (names of CONFIGS)")
    p.add_argument("--large-configs", nargs="+", default=["default", "recipe dcase"],
                   help="rows to run for dssdn_large (its 'recipe dcase' runs are the teachers)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--clips", type=int, default=800, help="synthetic training clips")
    p.add_argument("--eval-clips", type=int, default=540, help="synthetic evaluation clips")
    p.add_argument("--sample-rate", type=int, default=16000, help="Hz (16 kHz and 64 mel bins keep the ablation "
                                                                    "within a CPU budget; the recipe is the same)")
    p.add_argument("--n-fft", type=int, default=1024)
    p.add_argument("--hop-length", type=int, default=256)
    p.add_argument("--n-mels", type=int, default=64)
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel (one thread each)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "device_ablation"), help="folder of the training runs")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "device_ablation.json"), help="results file")
    p.add_argument("--docs", default=str(ROOT / "docs" / "training.md"), help="page whose tables are replaced")
    p.add_argument("--no-docs", action="store_true", help="do not touch the docs page")
    p.add_argument("--fresh", action="store_true", help="retrain runs that already finished")
    p.add_argument("--from-json", default=None, help="re-render the tables of an earlier results file, no training")
    return p.parse_args(argv)


def _run_dir(args: argparse.Namespace, model: str, config: str, seed: int) -> Path:
    slug = config.replace("+", "").replace("(", "").replace(")", "").split()
    return Path(args.runs) / model / "_".join(slug) / f"seed{seed}"


def _train(args: argparse.Namespace, model: str, config: str, seed: int) -> Dict[str, Any]:
    out = _run_dir(args, model, config, seed)
    metrics = out / "metrics.json"
    if metrics.is_file() and not args.fresh:
        return json.loads(metrics.read_text())
    teacher = _run_dir(args, *TEACHER, seed) / "last.pt"
    extra = [a.replace("{teacher}", str(teacher)) for a in CONFIGS[config]]
    cmd = [sys.executable, "-m", "lightops.cli", "train", "--model", model, "--data", "synthetic",
           "--epochs", str(args.epochs), "--num-clips", str(args.clips), "--num-eval-clips", str(args.eval_clips),
           "--seed", str(seed), "--threads", "1", "--cache", "--quiet", "--eval-every", str(args.epochs),
           "--sample-rate", str(args.sample_rate), "--n-fft", str(args.n_fft), "--hop-length", str(args.hop_length),
           "--n-mels", str(args.n_mels),
           "--out", str(out), "--overwrite", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{model} / {config} / seed {seed} failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    print(f"  {model:<12} {config:<34} seed {seed}: {time.perf_counter() - t0:6.0f} s", flush=True)
    return json.loads(metrics.read_text())


def _summary(m: Dict[str, Any]) -> Dict[str, Any]:
    seen, unseen = m["seen"]["accuracy"], m["unseen"]["accuracy"]
    return dict(accuracy=m["accuracy"], seen=seen, unseen=unseen, drop=seen - unseen, log_loss=m["log_loss"],
                epoch_seconds=m["mean_train_seconds_per_epoch"],
                per_device={d: v["accuracy"] for d, v in m["per_device"].items()})


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Train every (model, config, seed) not yet done; the teachers first. Returns the results dict."""
    jobs: List[Tuple[str, str, int]] = [(m, c, s) for m in args.models
                                        for c in (args.large_configs if m == "dssdn_large" else args.configs)
                                        for s in args.seeds]
    kd = [j for j in jobs if "{teacher}" in " ".join(CONFIGS[j[1]])]
    teachers = [(TEACHER[0], TEACHER[1], s) for s in args.seeds] if kd else []
    # one queue: the teachers first, the distilled runs last (their teachers are done by the time they start)
    ordered = teachers + [j for j in jobs if j not in teachers and j not in kd] + kd
    results: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for job, m in zip(ordered, pool.map(lambda j: _train(args, *j), ordered)):
            results[job] = m
    rows = [dict(model=model, config=config, seed=seed, **_summary(m)) for (model, config, seed), m in results.items()
            if model in args.models]
    return dict(rows=rows, settings=dict(epochs=args.epochs, clips=args.clips, eval_clips=args.eval_clips,
                                         seeds=args.seeds, clip_seconds=1.0, sample_rate=args.sample_rate,
                                         n_mels=args.n_mels, hop_length=args.hop_length),
                command=" ".join(["python", "benchmarks/device_ablation.py", *sys.argv[1:]]),
                date=time.strftime("%Y-%m-%d"), machine=f"{platform.machine()}, {os.cpu_count()} cores, "
                                                        f"{platform.python_implementation()} "
                                                        f"{platform.python_version()}, 1 thread per run")


def _ms(values: List[float], scale: float = 100.0, digits: int = 1) -> str:
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def tables(results: Dict[str, Any]) -> str:
    """The Markdown tables (summary and per device) of a results dict."""
    rows = results["rows"]
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["config"]), []).append(r)
    s = results["settings"]
    lines = [f"{len(s['seeds'])} seeds ({', '.join(map(str, s['seeds']))}), {s['epochs']} epochs, {s['clips']} "
             f"training / {s['eval_clips']} evaluation clips of 1 s at {s['sample_rate']} Hz, {s['n_mels']} mel bins "
             f"(hop {s['hop_length']}); mean ± standard deviation over seeds; seen devices a, b, c, s1-s3, unseen "
             f"s4-s6. Epoch time relative to the default recipe of the same model (the teacher's logits are "
             f"computed once, before the first epoch).",
             "", f"Command: `{results['command']}` ({results['date']}, {results['machine']}).", "",
             "| model | recipe | accuracy % | seen % | unseen % | drop (points) | log loss | epoch time |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (model, config), rs in groups.items():
        base = groups.get((model, "default"))
        mean_s = statistics.fmean(r["epoch_seconds"] for r in rs)
        ratio = f"{mean_s / statistics.fmean(r['epoch_seconds'] for r in base):.2f}x" if base else "n/a"
        lines.append(f"| {model} | {config} | {_ms([r['accuracy'] for r in rs])} | {_ms([r['seen'] for r in rs])} | "
                     f"{_ms([r['unseen'] for r in rs])} | {_ms([r['drop'] for r in rs])} | "
                     f"{_ms([r['log_loss'] for r in rs], 1.0, 3)} | {ratio} |")
    devices = sorted({d for r in rows for d in r["per_device"]}, key=lambda d: (len(d), d))
    lines += ["", "Accuracy per device (%, mean over seeds):", "",
              "| model | recipe | " + " | ".join(devices) + " |", "|---|---|" + "---:|" * len(devices)]
    for (model, config), rs in groups.items():
        cells = [f"{100 * statistics.fmean(r['per_device'].get(d, float('nan')) for r in rs):.1f}" for d in devices]
        lines.append(f"| {model} | {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run (or re-render) the ablation; print the tables; write the JSON and the docs block."""
    args = parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        unknown = [c for c in args.configs if c not in CONFIGS]
        if unknown:
            raise SystemExit(f"unknown configs {unknown}; expected some of {list(CONFIGS)}")
        results = run(args)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    text = tables(results)
    print(text)
    if not args.no_docs:
        write_block(args.docs, MARKER, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
