"""Where the time of an ExecuTorch (XNNPACK) program goes: XNNPACK's own time per operator, summed by operator kind,
for the fp32 program and the int8 PT2E program of each model.

Each model is exported as :mod:`benchmarks.bench_runtimes` exports it (random weights; fp32:
:func:`lightops.deploy.executorch.export_executorch`; int8: :func:`lightops.deploy.pt2e.quantize_ptq` of the
``speed`` form on standard-normal batches, then the same export), loaded with ExecuTorch's event tracer
(``enable_etdump``), run ``--runs`` times at batch 1 on one thread, and its trace read with ExecuTorch's
``Inspector``: every XNNPACK operator's median time over the runs, summed by kind (the operator's name without its
index, e.g. ``Convolution (NHWC, QC8) DWConv``; the parenthesis gives layout and data type, so an fp32 operator
inside an int8 program shows as such). A second table sets the same operator classes (data type dropped) of the
fp32 and the int8 program side by side. The traced run is slower than an untraced one (``execute`` is the traced
median): read shares and ratios, not milliseconds; :mod:`benchmarks.bench_runtimes` gives the untraced times.
Writes the block ``xnnpack-profile`` of docs/deploy.md. ::

    python -m benchmarks.xnnpack_profile                    # dssdn_small and dcase2025_baseline, fp32 and int8, 1 s
    python -m benchmarks.xnnpack_profile --models dssdn_tiny --runs 3 --no-docs
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks.common import CLIPS, ROOT, build, machine
from benchmarks.docs.blocks import add_block_arguments, publish

__all__ = ["profile_pte", "operator_class", "profile_model", "markdown", "main"]

MODELS = ["dssdn_small", "dcase2025_baseline"]
# the runtime's own events around the delegate, not XNNPACK operators
WRAPPERS = {"Program::load_method", "Method::init", "Method::execute", "DELEGATE_CALL", "OPERATOR_CALL"}


def profile_pte(path: str, x: torch.Tensor, runs: int) -> Tuple[Dict[str, Tuple[int, float]], float]:
    """``({kind: (operators, ms)}, execute ms)`` of the ``.pte`` at ``path`` run ``runs`` times on ``x``: each
    operator's median time over the runs, summed by kind; ``execute`` is the median traced ``Method::execute``."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings.portable_lib import _load_for_executorch

    method = _load_for_executorch(path, enable_etdump=True)
    for _ in range(runs):
        method.forward([x])
    kinds: Dict[str, List[float]] = defaultdict(list)
    execute = float("nan")
    with tempfile.TemporaryDirectory() as folder:
        trace = os.path.join(folder, "trace.etdp")
        method.write_etdump_result_to_file(trace)
        for block in Inspector(etdump_path=trace).event_blocks:
            for event in block.events:
                if event.perf_data is None:
                    continue
                ms = statistics.median(event.perf_data.raw)
                if event.name == "Method::execute":
                    execute = ms
                elif event.name not in WRAPPERS:
                    kinds[event.name.split(" #")[0]].append(ms)
    return {k: (len(v), sum(v)) for k, v in kinds.items()}, execute


def operator_class(kind: str) -> str:
    """An XNNPACK operator kind without its layout and data type: ``Convolution (NHWC, QC8) DWConv`` ->
    ``Convolution DWConv``."""
    return re.sub(r"\s+", " ", re.sub(r"\([^)]*\)", "", kind)).strip()


def profile_model(name: str, size: Sequence[int], runs: int, int8: bool, folder: str) -> Dict[str, dict]:
    """``{"fp32": ..., "int8": ...}`` of one model: ``kinds`` (``{kind: [operators, ms]}``), ``execute`` (ms)."""
    from benchmarks.bench_runtimes import calibration_batches
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.executorch import export_executorch
    from lightops.deploy.pt2e import quantize_ptq

    loaded = LoadedModel(build(name), name=name)
    programs = {"fp32": loaded}
    if int8:
        programs["int8"] = LoadedModel(quantize_ptq(loaded, calibration_batches(size), size, form="speed"), name=name,
                                       input_size=tuple(size))
    x = torch.randn(1, *size, generator=torch.Generator().manual_seed(0))
    out = {}
    for dtype, model in programs.items():
        path = os.path.join(folder, f"{name}_{dtype}.pte")
        export_executorch(model, path, size, allow_portable=True)
        kinds, execute = profile_pte(path, x, runs)
        out[dtype] = dict(kinds={k: list(v) for k, v in kinds.items()}, execute=execute)
    return out


def markdown(results: Dict[str, Dict[str, dict]], *, runs: int, clip: str, command: str, top: int = 8) -> str:
    """The docs block: per model and program, its largest operator kinds; then fp32 against int8 per class."""
    lines = [f"{clip} clip, batch 1, 1 thread, random weights (int8: PT2E PTQ of the `speed` form); each operator's "
             f"median over {runs} traced runs, summed by kind; `execute` is the traced run (slower than an untraced "
             f"one: read the shares). Command: `{command}` ({machine()}, torch {torch.__version__}).", "",
             "| model | program | XNNPACK operator kind | operators | ms | share |", "|---|---|---|---:|---:|---:|"]
    for name, programs in results.items():
        for dtype, prof in programs.items():
            kinds = sorted(prof["kinds"].items(), key=lambda kv: -kv[1][1])
            total = sum(ms for _, ms in prof["kinds"].values()) or float("nan")
            shown, rest = kinds[:top], kinds[top:]
            for kind, (count, ms) in shown:
                lines.append(f"| {name} | {dtype} | {kind} | {count} | {ms:.3f} | {100 * ms / total:.0f}% |")
            if rest:
                ms = sum(v[1] for _, v in rest)
                lines.append(f"| {name} | {dtype} | {len(rest)} other kinds | {sum(v[0] for _, v in rest)} | "
                             f"{ms:.3f} | {100 * ms / total:.0f}% |")
            lines.append(f"| {name} | {dtype} | **all operators** (execute {prof['execute']:.3f} ms) | "
                         f"{sum(v[0] for v in prof['kinds'].values())} | {total:.3f} | 100% |")
    pairs = {n: p for n, p in results.items() if {"fp32", "int8"} <= set(p)}
    if pairs:
        lines += ["", "The same operator classes, fp32 program against int8 program (data type dropped from the kind):",
                  "", "| model | operator class | fp32 ops | fp32 ms | int8 ops | int8 ms | int8 / fp32 |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for name, programs in pairs.items():
            by: Dict[str, Dict[str, List[float]]] = defaultdict(lambda: {"fp32": [0, 0.0], "int8": [0, 0.0]})
            for dtype in ("fp32", "int8"):
                for kind, (count, ms) in programs[dtype]["kinds"].items():
                    by[operator_class(kind)][dtype][0] += count
                    by[operator_class(kind)][dtype][1] += ms
            for cls, v in sorted(by.items(), key=lambda kv: -max(kv[1]["fp32"][1], kv[1]["int8"][1])):
                if max(v["fp32"][1], v["int8"][1]) <= 0:
                    continue
                ratio = f"{v['int8'][1] / v['fp32'][1]:.2f}" if v["fp32"][1] > 0 and v["int8"][0] else ""
                lines.append(f"| {name} | {cls} | {v['fp32'][0]} | {v['fp32'][1]:.3f} | {v['int8'][0]} | "
                             f"{v['int8'][1]:.3f} | {ratio} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export, trace, print and write the docs block."""
    from benchmarks.bench_runtimes import INT8
    from lightops.deploy.executorch import require_executorch

    p = argparse.ArgumentParser(prog="python -m benchmarks.xnnpack_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--int8", nargs="*", default=None, metavar="MODEL",
                   help="models with an int8 program (default: the lightops models and the DCASE 2025 baseline)")
    p.add_argument("--clip", choices=sorted(CLIPS), default="1s")
    p.add_argument("--runs", type=int, default=50, help="traced runs per program")
    p.add_argument("--top", type=int, default=8, help="operator kinds shown per program")
    add_block_arguments(p, ROOT / "docs" / "deploy.md", "xnnpack-profile")
    args = p.parse_args(argv)
    require_executorch()
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

    torch.set_num_threads(1)
    _unsafe_reset_threadpool(1)
    int8 = set(INT8) | {m for m in args.models if m.startswith("dssdn")} if args.int8 is None else set(args.int8)
    size = CLIPS[args.clip]
    with tempfile.TemporaryDirectory() as folder:
        results = {name: profile_model(name, size, args.runs, name in int8, folder) for name in args.models}
    command = " ".join(["python -m benchmarks.xnnpack_profile", *(sys.argv[1:] if argv is None else argv)])
    publish(args, markdown(results, runs=args.runs, clip=args.clip, command=command.strip(), top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
