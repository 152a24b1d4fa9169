"""Shared set-up of the pytest-benchmark suites (``bench_ops.py``, ``bench_models.py``).

Every benchmark runs at batch 1 on one intra-op thread, in eval mode under ``torch.inference_mode()``. The
session measures this machine's fp32 peak (a 1024^3 sgemm and a large dense convolution on one thread, see
:func:`measure_peak`) at its start and end; every benchmark's ``extra_info`` carries its params, MACs, MAC/s and
% of the starting peak, and the JSON's ``machine_info`` carries both peaks (the report divides by the higher), the
torch version, thread count, allocator settings, load average and date.

The timing itself is :mod:`benchmarks.timing` (its environment variables are set by ``python -m benchmarks.run``).
"""
from __future__ import annotations

import datetime
import os
import platform
from typing import Any, Callable, Dict, List

import pytest
import torch
import torch.nn as nn

from benchmarks.timing import MALLOC_MODE, QUICK, THREADS, Bench, fuse_function, measure_peak
from lightops.profiling import allocator_info, configure_malloc

_malloc = configure_malloc() if MALLOC_MODE == "mallopt" else None
torch.set_num_threads(THREADS)
_SESSION: Dict[str, Any] = {"load_start": os.getloadavg(), "start": datetime.datetime.now().isoformat("T", "seconds")}


@pytest.fixture(scope="session")
def peak() -> Dict[str, float]:
    """This machine's measured fp32 peak (:func:`measure_peak`), also written to the JSON's ``machine_info``."""
    if "peak" not in _SESSION:
        _SESSION["peak"] = measure_peak()
    return _SESSION["peak"]


@pytest.fixture(scope="session")
def fuse() -> Callable[..., nn.Module]:
    """``lightops.deploy.fuse``; benchmarks of fused modules are skipped when it is missing."""
    fn = fuse_function()
    if fn is None:
        pytest.skip("lightops.deploy.fuse is not available")
    return fn


@pytest.fixture
def bench(benchmark: Any, peak: Dict[str, float]) -> Bench:
    """A :class:`Bench` bound to this test's ``benchmark``."""
    return Bench(benchmark, peak)


@pytest.fixture(scope="session")
def pairs() -> List[Dict[str, Any]]:
    """Interleaved ratios recorded by the tests; written to the JSON as ``lightops_pairs``."""
    return _SESSION.setdefault("pairs", [])


def pytest_benchmark_update_json(config: Any, benchmarks: Any, output_json: Dict[str, Any]) -> None:
    """Add the interleaved ratios (``pairs`` fixture) to the JSON."""
    output_json["lightops_pairs"] = _SESSION.get("pairs", [])


def pytest_benchmark_update_machine_info(config: Any, machine_info: Dict[str, Any]) -> None:
    """Add the measured peak, torch build, threads, allocator settings, load average and date."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    if "peak_end" not in _SESSION:  # the hook may run more than once
        _SESSION["peak_end"] = measure_peak()
    start, end = _SESSION.get("peak"), _SESSION["peak_end"]
    peak = max((p for p in (start, end) if p is not None), key=lambda p: p["peak_macs_per_s"])
    machine_info["lightops"] = {
        "peak": peak,
        "peak_start": start,
        "peak_end": end,
        "torch": torch.__version__,
        "threads": THREADS,
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "malloc_mode": MALLOC_MODE,
        "malloc_applied": bool(_malloc) if _malloc is not None else None,
        "allocator": allocator_info().to_dict(),
        "quick": QUICK,
        "load_start": list(_SESSION["load_start"]),
        "load_end": list(os.getloadavg()),
        "start": _SESSION["start"],
        "end": datetime.datetime.now().isoformat("T", "seconds"),
    }
