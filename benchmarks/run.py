"""Run the benchmark suites and regenerate docs/benchmarks.md and docs/benchmarks_bubble.png in one command.

::

    python -m benchmarks.run            # full run: every shape, model studies (torch.compile), allocator study
    python -m benchmarks.run --quick    # a short run (under 2 minutes on a quiet 2-core machine)
    python -m benchmarks.run -k "op and 64x64x216" --out /tmp/b.md --png ''   # a subset, elsewhere

Each suite runs in a fresh ``python -m pytest`` process with one OpenMP/MKL thread, ``MALLOC_*`` variables
removed from its environment and ``LIGHTOPS_BENCH_MALLOC`` saying which allocator set-up to use
(``benchmarks/timing.py``). The full run also re-runs the eager model benchmarks under glibc's default malloc
thresholds, ``configure_malloc()`` and the ``MALLOC_*_`` variables, each in its own process, the three settings
alternating over two rounds (the report keeps each benchmark's lower median). JSON files go to
``.benchmarks/lightops/`` (git-ignored), then :func:`benchmarks.docs.report.main` writes the page and the figure.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
MMAP_THRESHOLD, TRIM_THRESHOLD = 32 * 2**20, 2**30  # lightops.profiling.configure_malloc's defaults
ROUNDS = {True: ("0.1", "5"), False: ("0.5", "10")}  # quick -> (--benchmark-max-time, --benchmark-min-rounds)
ALLOC_ROUNDS = 2  # processes per malloc setting in the allocator study; the report keeps each benchmark's best


def _env(quick: bool, malloc: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(LIGHTOPS_BENCH_QUICK="1" if quick else "0", LIGHTOPS_BENCH_MALLOC=malloc, OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    if malloc == "env":
        env.update(MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD), MALLOC_TRIM_THRESHOLD_=str(TRIM_THRESHOLD))
    return env


def run_suite(files: Sequence[str], json_path: Path, *, quick: bool, malloc: str = "mallopt",
              select: Optional[str] = None) -> int:
    """Run pytest-benchmark on ``files`` (relative to ``benchmarks/``) in a fresh process; JSON to ``json_path``.

    Returns:
        pytest's exit code (5, nothing selected, counts as success).
    """
    max_time, min_rounds = ROUNDS[quick]
    cmd = [sys.executable, "-m", "pytest", *[str(BENCH / f) for f in files], "-q", "-p", "no:cacheprovider",
           f"--benchmark-json={json_path}", f"--benchmark-max-time={max_time}",
           f"--benchmark-min-rounds={min_rounds}", "--benchmark-disable-gc", "--benchmark-sort=name",
           "--benchmark-columns=median,iqr,rounds"]
    if select:
        cmd += ["-k", select]
    json_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"$ {' '.join(cmd[2:])}  [LIGHTOPS_BENCH_MALLOC={malloc}]", flush=True)
    code = subprocess.call(cmd, cwd=ROOT, env=_env(quick, malloc))
    print(f"  ({time.time() - t0:.0f} s, exit {code})", flush=True)
    return 0 if code == 5 else code


def main(quick: bool = False, *, select: Optional[str] = None, allocator: Optional[bool] = None,
         out: str = "docs/benchmarks.md", png: str = "docs/benchmarks_bubble.png",
         json_dir: str = ".benchmarks/lightops") -> int:
    """Run the operator and model suites, then write the report page and figure.

    Args:
        quick: fewer shapes, no model studies, fewer rounds (under 2 minutes on a quiet machine).
        select: a pytest ``-k`` expression to run a subset.
        allocator: also run the allocator study (default: on for the full run, off for ``quick``).
        out: Markdown page to write (relative to the repository root).
        png: bubble figure to write ('' for none).
        json_dir: where the JSON files go.

    Returns:
        0 on success, else the first failing pytest exit code (the page is still written from the benchmarks
        that ran when some failed).
    """
    from benchmarks.docs import report

    jdir = ROOT / json_dir / ("quick" if quick else "full")
    main_json = jdir / "bench.json"
    failed = run_suite(["bench_ops.py", "bench_models.py"], main_json, quick=quick, select=select)
    if failed and (failed != 1 or not main_json.exists()):  # 1: some benchmarks failed, the others are reported
        return failed
    alloc_args: List[str] = []
    if allocator if allocator is not None else not quick:
        done: Dict[str, List[str]] = {}
        for rnd in range(ALLOC_ROUNDS):  # settings alternate, so that a slow spell of the machine hits them all
            for malloc in ("default", "mallopt", "env"):
                path = jdir / f"alloc-{malloc}-{rnd}.json"
                code = run_suite(["bench_models.py"], path, quick=quick, malloc=malloc,
                                 select="test_model and eager")
                if code == 0 and path.exists():
                    done.setdefault(malloc, []).append(str(path))
                failed = failed or code
        alloc_args = [a for m, paths in done.items() for a in ("--alloc", f"{m}={','.join(paths)}")]
    out_path, png_path = ROOT / out, (ROOT / png if png else None)
    code = report.main([str(main_json), *alloc_args, "--out", str(out_path), "--png", str(png_path or "")])
    return failed or code


def cli(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of this script (``lightops bench`` calls it)."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description="Run the lightops benchmarks and regenerate docs/benchmarks.md.")
    p.add_argument("--quick", action="store_true", help="a short run: fewer shapes and rounds, no studies")
    p.add_argument("-k", dest="select", default=None, help="pytest -k expression selecting benchmarks")
    p.add_argument("--allocator", action=argparse.BooleanOptionalAction, default=None,
                   help="run the malloc study (default: full run only)")
    p.add_argument("--out", default="docs/benchmarks.md", help="Markdown page (default docs/benchmarks.md)")
    p.add_argument("--png", default="docs/benchmarks_bubble.png", help="figure ('' for none)")
    p.add_argument("--json-dir", default=".benchmarks/lightops", help="where the JSON files go")
    a = p.parse_args(argv)
    return main(a.quick, select=a.select, allocator=a.allocator, out=a.out, png=a.png, json_dir=a.json_dir)


if __name__ == "__main__":
    raise SystemExit(cli())
