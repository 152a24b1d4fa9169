"""Forward-pass latency, and the malloc settings that decide it on CPU.

glibc's malloc serves a request above its mmap threshold with a fresh ``mmap`` and unmaps it on ``free``. The
threshold starts at 128 KiB and grows when such a block is freed (up to 32 MiB on 64-bit), and the top of the
heap is given back to the system past the trim threshold. A CPU convolution whose output or scratch buffers
fall in that regime pays for fresh, zero-filled pages on every call: a page fault per 4 KiB. Fixing both
thresholds (:func:`configure_malloc`, or the ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` environment
variables before the process starts) keeps those buffers on the heap and reuses them. :func:`latency` reports
which allocator and settings were in force, so two timings can be compared knowingly. docs/profiling.md has
the measured effect.
"""
from __future__ import annotations

import ctypes
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..validation import check_float, check_input_size, check_int
from .memory import Device, check_batch_size, inference_context, make_input, on_device

__all__ = ["LatencyResult", "AllocatorInfo", "MallocConfig", "allocator_info", "configure_malloc", "latency"]

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_INT_MAX = 2**31 - 1  # mallopt takes a C int
MALLOC_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "MALLOC_TOP_PAD_",
                   "GLIBC_TUNABLES", "LD_PRELOAD")
_REPLACEMENTS = ("jemalloc", "tcmalloc", "mimalloc")

_applied: Dict[str, int] = {}  # mallopt settings applied in this process by configure_malloc


@dataclass(frozen=True)
class AllocatorInfo:
    """The C allocator in force in this process.

    Attributes:
        libc: ``"glibc 2.36"``-style name and version, or ``"unknown"``.
        replacement: ``"jemalloc"``, ``"tcmalloc"`` or ``"mimalloc"`` when one is loaded (``LD_PRELOAD`` or
            mapped into the process), else None.
        glibc_malloc: glibc's malloc serves allocations (glibc present, no replacement loaded).
        env: the malloc-related environment variables (None when unset), read when this object was made.
        mallopt: settings applied at run time by :func:`configure_malloc` (``{}`` when none).
    """

    libc: str
    replacement: Optional[str]
    glibc_malloc: bool
    env: Dict[str, Optional[str]]
    mallopt: Dict[str, int]

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True)
class MallocConfig:
    """What :func:`configure_malloc` did.

    Attributes:
        applied: every requested setting was accepted by ``mallopt``.
        mmap_threshold: the requested mmap threshold in bytes (None: left alone).
        trim_threshold: the requested trim threshold in bytes (None: left alone).
        detail: why nothing (or not everything) was applied, or ``"ok"``.
    """

    applied: bool
    mmap_threshold: Optional[int]
    trim_threshold: Optional[int]
    detail: str

    def __bool__(self) -> bool:
        return self.applied


def _glibc_version() -> Optional[str]:
    try:
        fn = ctypes.CDLL(None).gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_char_p
    return fn().decode()


def _replacement_malloc() -> Optional[str]:
    preload = os.environ.get("LD_PRELOAD", "")
    mapped = ""
    try:
        with open("/proc/self/maps") as f:
            mapped = f.read()
    except OSError:
        pass
    for name in _REPLACEMENTS:
        if name in preload or f"lib{name}" in mapped:
            return name
    return None


def allocator_info() -> AllocatorInfo:
    """Describe the C allocator of this process: glibc or a replacement, its environment, run-time settings.

    Returns:
        An :class:`AllocatorInfo`.
    """
    version = _glibc_version()
    replacement = _replacement_malloc()
    return AllocatorInfo(
        libc=f"glibc {version}" if version else "unknown",
        replacement=replacement,
        glibc_malloc=version is not None and replacement is None,
        env={k: os.environ.get(k) for k in MALLOC_ENV_VARS},
        mallopt=dict(_applied),
    )


def configure_malloc(mmap_threshold: Optional[int] = 32 * 2**20,
                     trim_threshold: Optional[int] = 2**30) -> MallocConfig:
    """Fix glibc malloc's mmap and trim thresholds for this process, through ``mallopt``.

    The run-time equivalent of starting Python with ``MALLOC_MMAP_THRESHOLD_=33554432
    MALLOC_TRIM_THRESHOLD_=1073741824`` (environment variables are read once, when the process starts; setting
    them from Python afterwards changes nothing). Setting the mmap threshold also turns off its dynamic growth.
    Allocations below ``mmap_threshold`` then come from the heap, and freed memory stays there until more than
    ``trim_threshold`` bytes are free at its top, so buffers are reused from one forward pass to the next instead
    of being mapped and faulted in again. Older glibc refuses mmap thresholds above 32 MiB on 64-bit systems;
    a refusal shows in the result.

    Args:
        mmap_threshold: bytes (``M_MMAP_THRESHOLD``); None leaves it alone.
        trim_threshold: bytes (``M_TRIM_THRESHOLD``); None leaves it alone.

    Returns:
        A :class:`MallocConfig`; ``applied`` is False, with the reason in ``detail``, when the process does not
        use glibc's malloc (another libc, or jemalloc/tcmalloc loaded) or ``mallopt`` refused a value.

    Raises:
        TypeError: a threshold that is not an int (or None).
        ValueError: a threshold outside ``[0, 2**31 - 1]``.
    """
    requested = {"M_MMAP_THRESHOLD": mmap_threshold, "M_TRIM_THRESHOLD": trim_threshold}
    for name, value in requested.items():
        check_int(value, f"configure_malloc: {name} (bytes)", minimum=0, maximum=_INT_MAX, optional=True)
    info = allocator_info()
    if not info.glibc_malloc:
        why = f"{info.replacement} is loaded" if info.replacement else f"libc is {info.libc}, not glibc"
        return MallocConfig(False, mmap_threshold, trim_threshold, f"not applied: {why}")
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    refused = []
    for name, param in (("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD), ("M_TRIM_THRESHOLD", M_TRIM_THRESHOLD)):
        value = requested[name]
        if value is None:
            continue
        if mallopt(param, value) == 1:
            _applied[name] = value
        else:
            refused.append(f"{name}={value}")
    detail = "ok" if not refused else f"mallopt refused {', '.join(refused)}"
    return MallocConfig(not refused, mmap_threshold, trim_threshold, detail)


@dataclass(frozen=True)
class LatencyResult:
    """Timing of repeated forward passes.

    Attributes:
        median_ms: median time per forward pass, milliseconds (the figure to report).
        mean_ms: mean.
        stdev_ms: sample standard deviation (0 for one sample).
        p10_ms: 10th percentile.
        p90_ms: 90th percentile.
        iqr_ms: interquartile range (75th minus 25th percentile).
        min_ms: fastest pass.
        max_ms: slowest pass.
        repeats: timed passes.
        warmup: untimed passes before them.
        batch_size: batch of each pass.
        input_size: ``(C, F, T)``.
        threads: intra-op threads used (``torch.set_num_threads``).
        device: where the passes ran.
        torch_version: ``torch.__version__``.
        allocator: the C allocator and its settings during the run (:class:`AllocatorInfo`).
        samples_ms: every timed pass, in order.
    """

    median_ms: float
    mean_ms: float
    stdev_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    warmup: int
    batch_size: int
    input_size: Tuple[int, ...]
    threads: int
    device: str
    torch_version: str
    allocator: AllocatorInfo
    samples_ms: Tuple[float, ...] = field(repr=False, default=())

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        d = asdict(self)
        d["input_size"], d["samples_ms"] = list(self.input_size), list(self.samples_ms)
        return d

    def __str__(self) -> str:
        alloc = self.allocator
        malloc = alloc.replacement or ("glibc malloc" if alloc.glibc_malloc else alloc.libc)
        tuned = ", ".join(f"{k}={v}" for k, v in alloc.mallopt.items()) or "defaults"
        return (f"{self.median_ms:.3f} ms median (p10 {self.p10_ms:.3f}, p90 {self.p90_ms:.3f}, min {self.min_ms:.3f})"
                f" over {self.repeats} runs, batch {self.batch_size}, {self.threads} thread(s) on {self.device}, "
                f"torch {self.torch_version}, {malloc} ({tuned})")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _quantiles(xs: Sequence[float]) -> List[float]:
    """Percentiles 10, 25, 75, 90 (inclusive method; all equal for one sample)."""
    if len(xs) == 1:
        return [xs[0]] * 4
    q = statistics.quantiles(xs, n=20, method="inclusive")  # q[k - 1] is the 5k-th percentile
    return [q[1], q[4], q[14], q[17]]


def latency(module: nn.Module, input_size: Sequence[int], *, batch_size: int = 1, warmup: int = 10,
            repeats: int = 50, min_time: float = 0.5, threads: int = 1, device: Device = "cpu",
            max_repeats: int = 10_000) -> LatencyResult:
    """Time forward passes of ``module`` on a random input.

    ``warmup`` untimed passes, then timed passes until at least ``repeats`` have run and at least ``min_time``
    seconds have been spent in them (at most ``max_repeats``). Each pass is timed alone with
    ``time.perf_counter_ns`` (the device synchronised before the clock stops), under ``torch.inference_mode()``
    in eval mode with parametrized weights cached, with ``torch.set_num_threads(threads)``; the thread count
    and training flags are restored afterwards.

    Args:
        module: the model or operator (a copy is made to change device).
        input_size: ``(C, F, T)`` for a module taking ``(B, C, F, T)``.
        batch_size: batch of each pass.
        warmup: untimed passes first (they fill caches, pick kernels, grow malloc's heap).
        repeats: minimum timed passes.
        min_time: minimum seconds of timed passes.
        threads: intra-op threads (1: the single-core embedded case).
        device: ``"cpu"``, ``"cuda"``, ...
        max_repeats: cap on timed passes, for very fast modules and a large ``min_time``.

    Returns:
        A :class:`LatencyResult`, with the allocator settings in force.
    """
    size = check_input_size(input_size, "latency", ndim=None)
    batch_size = check_batch_size(batch_size, "latency")
    for name, value, low in (("warmup", warmup, 0), ("repeats", repeats, 1), ("threads", threads, 1),
                             ("max_repeats", max_repeats, 1)):
        check_int(value, f"latency: {name}", minimum=low)
    check_float(min_time, "latency: min_time (seconds)", minimum=0.0)
    dev = torch.device(device)
    work = on_device(module, dev)
    x = make_input(work, size, batch_size, dev)
    samples: List[int] = []
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with inference_context(work), torch.inference_mode():
            for _ in range(warmup):
                work(x)
            _sync(dev)
            budget = int(min_time * 1e9)
            spent = 0
            while len(samples) < max_repeats and (len(samples) < repeats or spent < budget):
                t0 = time.perf_counter_ns()
                work(x)
                _sync(dev)
                dt = time.perf_counter_ns() - t0
                samples.append(dt)
                spent += dt
    finally:
        torch.set_num_threads(old_threads)
    ms = [s / 1e6 for s in samples]
    p10, p25, p75, p90 = _quantiles(ms)
    return LatencyResult(
        median_ms=statistics.median(ms), mean_ms=statistics.fmean(ms),
        stdev_ms=statistics.stdev(ms) if len(ms) > 1 else 0.0, p10_ms=p10, p90_ms=p90, iqr_ms=p75 - p25,
        min_ms=min(ms), max_ms=max(ms), repeats=len(ms), warmup=warmup, batch_size=batch_size, input_size=size,
        threads=threads, device=str(dev), torch_version=torch.__version__, allocator=allocator_info(),
        samples_ms=tuple(ms),
    )
