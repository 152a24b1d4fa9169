"""Forward latency under glibc malloc's default thresholds versus fixed ones (run-time ``mallopt`` or env vars).

Each variant runs in a fresh interpreter so that no malloc setting leaks from one to the next:

- ``default``: the process as started, ``MALLOC_*`` environment variables removed;
- ``mallopt``: :func:`lightops.profiling.configure_malloc` called first thing (32 MiB mmap threshold,
  1 GiB trim threshold);
- ``env``: the same thresholds given as ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` at start-up.

Every case is timed with :func:`lightops.profiling.latency` on one thread at batch 1, and the minor page faults
per forward pass are read from ``getrusage``. Variants alternate over ``--rounds`` rounds; the table gives the
lowest median of the rounds and the speed-up of each variant over ``default``.

Usage::

    python -m benchmarks.allocator                      # all cases, 2 rounds, table on stdout
    python -m benchmarks.allocator --json out.json      # also write every measurement
    python -m benchmarks.allocator --cases conv3x3 sc   # cases whose name contains one of these words
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Callable, Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2**30
VARIANTS = ("default", "mallopt", "env")


def cases() -> List[Tuple[str, Callable, Tuple[int, int, int]]]:
    """(name, module builder, input (C, F, T)); shapes are those met inside DSSDN on a 10-s clip."""
    import torch.nn as nn

    import lightops
    from benchmarks.common import CLIPS, stated_clip

    models = [(f"{n} {clip[:-1]} s ({','.join(map(str, CLIPS[clip]))})", n, CLIPS[clip])
              for n in lightops.list_models() for clip in [stated_clip(n)]]
    return [
        ("conv3x3 64->64 (64,128,216)", lambda: nn.Conv2d(64, 64, 3, padding=1, bias=False), (64, 128, 216)),
        ("sc 48->64 (48,64,216)", lambda: lightops.SC(48, 64), (48, 64, 216)),
        ("sc 64->64 (64,64,216)", lambda: lightops.SC(64, 64), (64, 64, 216)),
        ("osc 64->64 (64,64,216)", lambda: lightops.OSC(64, 64), (64, 64, 216)),
        ("spc 64->64 (64,64,216)", lambda: lightops.SPC(64, 64), (64, 64, 216)),
        ("sc 96->96 (96,32,108)", lambda: lightops.SC(96, 96), (96, 32, 108)),
        ("sc 32->32 (32,64,22)", lambda: lightops.SC(32, 32), (32, 64, 22)),
    ] + [(label, lambda n=n: lightops.create_model(n), size) for label, n, size in models]


def worker(variant: str, selected: List[str], threads: int, min_time: float) -> None:
    """Time the selected cases in this process and print one JSON line."""
    import resource

    import torch

    from lightops.profiling import configure_malloc, latency

    config = configure_malloc(MMAP_THRESHOLD, TRIM_THRESHOLD) if variant == "mallopt" else None
    torch.manual_seed(0)
    out = []
    for name, build, size in cases():
        if selected and not any(word in name for word in selected):
            continue
        module = build()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        r = latency(module, size, warmup=5, repeats=20, min_time=min_time, threads=threads)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / (r.repeats + r.warmup)
        out.append(dict(case=name, median_ms=r.median_ms, p10_ms=r.p10_ms, p90_ms=r.p90_ms, repeats=r.repeats,
                        faults_per_call=faults, allocator=r.allocator.to_dict()))
    print(json.dumps(dict(variant=variant, applied=config.applied if config else None, results=out)))


def run_variant(variant: str, selected: List[str], threads: int, min_time: float) -> Dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    if variant == "env":
        env.update(MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD), MALLOC_TRIM_THRESHOLD_=str(TRIM_THRESHOLD))
    cmd = [sys.executable, "-m", "benchmarks.allocator", "--worker", variant, "--threads", str(threads),
           "--min-time", str(min_time), "--cases", *selected]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.allocator", description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--cases", nargs="*", default=[])
    ap.add_argument("--json", default=None, help="write every measurement to this file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.cases, args.threads, args.min_time)
        return

    runs = []
    for rnd in range(args.rounds):
        for variant in args.variants:
            print(f"round {rnd + 1}/{args.rounds}: {variant}", file=sys.stderr, flush=True)
            runs.append(run_variant(variant, args.cases, args.threads, args.min_time))
    best: Dict[Tuple[str, str], Dict] = {}
    for run in runs:
        for r in run["results"]:
            key = (run["variant"], r["case"])
            if key not in best or r["median_ms"] < best[key]["median_ms"]:
                best[key] = r
    names = [r["case"] for r in runs[0]["results"]]
    from lightops.profiling.table import render_table

    headers = ["case"]
    for v in args.variants:
        headers += [f"{v} ms", f"{v} faults/call"] + ([f"default/{v}"] if v != "default" else [])
    rows = []
    for name in names:
        row = [name]
        base = best.get(("default", name))
        for v in args.variants:
            r = best[(v, name)]
            row += [f"{r['median_ms']:.2f}", f"{r['faults_per_call']:.0f}"]
            if v != "default":
                row.append(f"{base['median_ms'] / r['median_ms']:.2f}x" if base else "-")
        rows.append(row)
    alloc = runs[0]["results"][0]["allocator"] if runs[0]["results"] else {}
    print(f"{args.threads} thread(s), batch 1, lowest median of {args.rounds} round(s); {alloc.get('libc', '?')}")
    print(render_table(headers, rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(runs=runs, threads=args.threads), f, indent=1)


if __name__ == "__main__":
    main()
