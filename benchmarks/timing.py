"""Timing of the pytest-benchmark suites (``bench_ops.py``, ``bench_models.py``): the machine's peak, one timed call,
and ratios of two calls timed in alternation.

Every benchmark runs at batch 1 on one intra-op thread, in eval mode under ``torch.inference_mode()``.

Environment (set by ``python -m benchmarks.run``):

- ``LIGHTOPS_BENCH_QUICK=1``: fewer shapes and variants (the ``--quick`` run).
- ``LIGHTOPS_BENCH_MALLOC``: ``mallopt`` (default; :func:`lightops.profiling.configure_malloc` is called
  first thing, by ``benchmarks/conftest.py``), ``default`` (glibc's defaults) or ``env`` (thresholds given by
  ``MALLOC_*_`` variables at start-up). Without fixed thresholds CPU timings depend on allocation history
  (docs/profiling.md).
"""
from __future__ import annotations

import importlib
import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

__all__ = ["QUICK", "MALLOC_MODE", "THREADS", "WARMUP_CALLS", "measure_peak", "fuse_function", "Bench",
           "interleaved_ratio"]

QUICK = os.environ.get("LIGHTOPS_BENCH_QUICK", "0") not in ("", "0")
MALLOC_MODE = os.environ.get("LIGHTOPS_BENCH_MALLOC", "mallopt")
THREADS = 1
WARMUP_CALLS = 5  # untimed calls before pytest-benchmark's own rounds: oneDNN primitive caches, malloc heap


def _best_and_median(fn: Callable[[], Any], repeats: int) -> Tuple[float, float]:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[0], times[len(times) // 2]


def measure_peak(n: int = 1024, repeats: int = 10) -> Dict[str, float]:
    """fp32 peak of this machine on ``THREADS`` threads, from two compute-bound kernels, best of ``repeats``.

    - ``sgemm``: an ``n x n x n`` matrix product (``torch.mm``, MKL);
    - ``conv``: a dense 3x3 convolution 256 -> 256 on ``(1, 256, 32, 32)`` (oneDNN), which on CPUs where MKL
      does not pick its fastest code path (AMD) comes closer to the hardware's peak.

    Returns:
        GFLOP/s of each (best and median) and ``peak_macs_per_s``: the higher best rate, in multiply-accumulates
        per second (FLOP/s / 2).
    """
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with torch.inference_mode():
            a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
            mm = _best_and_median(lambda: torch.mm(a, b, out=out), repeats)
            conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).eval()
            x = torch.randn(1, 256, 32, 32)
            cv = _best_and_median(lambda: conv(x), repeats)
    finally:
        torch.set_num_threads(old)
    mm_flops, conv_flops = 2.0 * n**3, 2.0 * 9 * 256 * 256 * 32 * 32
    res = {"sgemm_n": n, "gflops_best": mm_flops / mm[0] / 1e9, "gflops_median": mm_flops / mm[1] / 1e9,
           "conv_gflops_best": conv_flops / cv[0] / 1e9, "conv_gflops_median": conv_flops / cv[1] / 1e9}
    res["peak_macs_per_s"] = max(res["gflops_best"], res["conv_gflops_best"]) * 1e9 / 2
    return res


def fuse_function() -> Optional[Callable[..., nn.Module]]:
    """``lightops.deploy.fuse`` (the function), or None when the deploy package is not there."""
    try:
        module = importlib.import_module("lightops.deploy.fuse")
    except ImportError:
        return None
    return getattr(module, "fuse", None)


class Bench:
    """Times one module call with pytest-benchmark and fills ``benchmark.group`` and ``extra_info``.

    Args:
        benchmark: the pytest-benchmark fixture.
        peak: the session's :func:`measure_peak` result.
    """

    def __init__(self, benchmark: Any, peak: Dict[str, float]) -> None:
        self.benchmark = benchmark
        self.peak = peak

    def __call__(self, fn: Callable[[torch.Tensor], Any], x: torch.Tensor, *, group: str, label: str, macs: int,
                 params: int, reference: bool = False, **info: Any) -> float:
        """Time ``fn(x)``; return the median seconds.

        Args:
            fn: a module in eval mode (or any callable taking the input).
            x: the batch-1 input.
            group: benchmark group; ratios are taken within a group.
            label: row name in the report.
            macs: MACs of one call (nominal: those of the unfused module, DCASE convention).
            params: trainable parameters.
            reference: this row is the group's reference (ratio 1.0).
            info: more ``extra_info`` fields (mode, shape, clip, ...).
        """
        bm = self.benchmark
        bm.group = group
        bm.extra_info.update(label=label, macs=int(macs), params=int(params), reference=bool(reference),
                             threads=torch.get_num_threads(), **info)
        with torch.inference_mode():
            for _ in range(WARMUP_CALLS):
                fn(x)
            bm(fn, x)
        if bm.stats is None:  # --benchmark-disable: the call ran once, untimed
            return float("nan")
        median = bm.stats.stats.median
        bm.extra_info["macs_per_s"] = macs / median if median > 0 else 0.0
        bm.extra_info["pct_peak"] = 100.0 * bm.extra_info["macs_per_s"] / self.peak["peak_macs_per_s"]
        return median


def interleaved_ratio(a: Callable[[torch.Tensor], Any], xa: torch.Tensor, b: Callable[[torch.Tensor], Any],
                      xb: torch.Tensor, *, rounds: int = 11, round_time: float = 0.03) -> Dict[str, float]:
    """Time ``a(xa)`` against ``b(xb)`` alternately and return the median of the per-round ratios.

    On a shared machine the speed of the core drifts with what else runs; a ratio of two benchmarks timed
    minutes apart carries that drift, a ratio of calls timed in alternation does not. Each round runs one
    untimed call and then ``n`` timed calls of each side in turn (order swapped every round; ``3 <= n <= 100``
    chosen so that a round takes about ``round_time`` seconds), so that neither side runs with the other's data
    in the caches, and divides the two medians; the result is the median over rounds.

    Returns:
        ``{"ratio", "a_s", "b_s", "rounds", "calls"}``: ``a_s``/``b_s`` are the lowest per-round medians.
    """
    clock = time.perf_counter
    with torch.inference_mode():
        for _ in range(WARMUP_CALLS):
            a(xa)
            b(xb)
        pair_times = []
        for _ in range(3):
            t0 = clock()
            a(xa)
            b(xb)
            pair_times.append(clock() - t0)
        calls = max(3, min(100, int(round_time / max(min(pair_times), 1e-6))))
        ratios, best_a, best_b = [], float("inf"), float("inf")
        for i in range(rounds):
            times: Dict[str, List[float]] = {"a": [], "b": []}
            order = (("a", a, xa), ("b", b, xb)) if i % 2 == 0 else (("b", b, xb), ("a", a, xa))
            for key, fn, x in order:
                fn(x)  # untimed: brings this side's weights and buffers back into the caches
                for _ in range(calls):
                    t = clock()
                    fn(x)
                    times[key].append(clock() - t)
            ma, mb = statistics.median(times["a"]), statistics.median(times["b"])
            ratios.append(ma / mb)
            best_a, best_b = min(best_a, ma), min(best_b, mb)
    return {"ratio": statistics.median(ratios), "a_s": best_a, "b_s": best_b, "rounds": rounds, "calls": calls}
