"""One bench across runtimes: eager PyTorch, frozen TorchScript, ONNX Runtime and ExecuTorch (XNNPACK), fp32 and int8.

Every model is exported the same way: eager runs the fused deployed module (``deploy_module``, fixed length) under
``torch.inference_mode()``; TorchScript the frozen scripted model (:func:`lightops.deploy.freeze.freeze`, fused);
ONNX Runtime the fixed-length file of :func:`lightops.deploy.export_onnx` (``static``)
and the int8 QDQ file of the PT2E program (:mod:`lightops.deploy.onnx_int8`); ExecuTorch the ``.pte`` of
:func:`lightops.deploy.executorch.export_executorch` (fp32) and of the same program. The int8 model is one PT2E
PTQ model (:func:`lightops.deploy.pt2e.quantize_ptq`, XNNPACK quantizer, ``--form``, default ``speed``) calibrated
on standard-normal batches (random-weight models: only the speed is measured), so both runtimes run the same int8
weights and ranges. ``--threads`` (default 1; 0: every core) is given to PyTorch, to each ONNX Runtime session
(intra-op) and to XNNPACK's threadpool; batch 1. Timing alternates every (model, runtime) in rounds (each round
times each ``--runs`` times); each row gives its median and its time relative to the reference of the same runtime
and dtype (``mobilenetv3_small_100``; per-round ratios, median), and int8 rows their ratio to the fp32 row of the
same runtime. The ExecuTorch rows say what XNNPACK delegated. Writes ``benchmarks/results/bench_runtimes.json``
and, with ``--block``, the table as a block of docs/deploy.md.

::

    python -m benchmarks.bench_runtimes               # dssdn_small, mobilenetv3_small_100, dcase2025_baseline, 1 s
    python -m benchmarks.bench_runtimes --quick --models dssdn_small mobilenetv3_small_100
    python -m benchmarks.bench_runtimes --clip 10s --models dssdn_large mobilenetv3_small_100 --int8 dssdn_large
    python -m benchmarks.bench_runtimes --threads 0 --block runtime-bench-1s-all-cores   # every core, into the docs
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from benchmarks.common import CLIPS, ROOT, build, machine
from benchmarks.docs.blocks import add_block_arguments, publish, wrap, write_block

MODELS = ["dssdn_small", "mobilenetv3_small_100", "dcase2025_baseline"]
REFERENCE = "mobilenetv3_small_100"
INT8 = ("dssdn_small", "dcase2025_baseline")  # int8 rows (the peers' int8 is not a target)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_runtimes", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--clip", choices=sorted(CLIPS), default="1s")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    p.add_argument("--runs", type=int, default=30, help="timed runs per (model, runtime) and round")
    p.add_argument("--quick", action="store_true", help="3 rounds of 10 runs")
    p.add_argument("--int8", nargs="+", default=list(INT8), metavar="MODEL",
                   help="models with int8 rows (default: %(default)s)")
    p.add_argument("--form", choices=["speed", "memory"], default="speed",
                   help="the int8 model's float form (lightops quantize --form)")
    p.add_argument("--threads", type=int, default=1, help="threads of every runtime (0: every core)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_runtimes.json"))
    p.add_argument("--docs", default=str(ROOT / "docs" / "deploy.md"), help="page of --block")
    p.add_argument("--block", default=None, help="write the table into this block of --docs")
    p.add_argument("--png", default=None, help="write a bar chart of the table to this file")
    p.add_argument("--from-json", default=None, help="re-render --block / --png from an earlier results file")
    return p.parse_args(argv)


def calibration_batches(size: Sequence[int], batches: int = 4) -> List[torch.Tensor]:
    """Standard-normal log-mel batches: the scale the export's parity inputs have for these unnormalised models."""
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(2, *size, generator=gen) for _ in range(batches)]


def onnx_call(path: str, x: torch.Tensor, threads: int = 1) -> Callable[[], Any]:
    """One ONNX Runtime run of the file at ``path`` on ``x`` (a session of ``threads`` threads), as a call."""
    from lightops.deploy import ort_session

    sess = ort_session(path, threads=threads)
    feed = {sess.get_inputs()[0].name: np.ascontiguousarray(x.numpy())}
    return lambda: sess.run(None, feed)


def pte_call(path: str, x: torch.Tensor) -> Callable[[], Any]:
    """One ExecuTorch run of the program at ``path`` on ``x``, as a call."""
    from lightops.deploy.executorch import load_pte

    method = load_pte(path)
    return lambda: method.execute([x])


def runners(name: str, size: Sequence[int], folder: str, info: Dict[str, Any], form: str = "speed",
            int8_models: Sequence[str] = INT8, threads: int = 1) -> Dict[str, Callable[[], Any]]:
    """``{"runtime dtype": call}`` of one model at input ``(1, *size)``; ``info`` receives what each export did (and
    why a runtime has no row: a model that does not script has no TorchScript row)."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy import export_onnx
    from lightops.deploy.executorch import export_executorch
    from lightops.deploy.freeze import freeze
    from lightops.deploy.module import deploy_module
    from lightops.deploy.pt2e import quantize_ptq

    loaded = LoadedModel(build(name), name=name)
    x = torch.randn(1, *size)
    net = deploy_module(loaded, export_size=tuple(size), fixed_length=True)
    out: Dict[str, Callable[[], Any]] = {"eager fp32": lambda: net(x)}
    try:
        frozen = freeze(loaded.model)
        out["torchscript fp32"] = lambda: frozen(x)
    except RuntimeError as e:
        info[f"{name} torchscript fp32"] = dict(error=str(e).splitlines()[0])
    onnx = os.path.join(folder, f"{name}.onnx")
    export_onnx(loaded, onnx, size, static=True, batch_size=1)
    files = {"onnxruntime fp32": onnx}
    calib = calibration_batches(size) if name in int8_models else []
    int8 = LoadedModel(quantize_ptq(loaded, calib, size, form=form), name=name, input_size=tuple(size)) \
        if calib else None
    if int8 is not None:
        files["onnxruntime int8"] = os.path.join(folder, f"{name}_int8.onnx")
        result = export_onnx(int8, files["onnxruntime int8"])
        info[f"{name} onnxruntime int8"] = dict(agreement=result.agreement, max_prob_diff=result.max_prob_diff)
    for key, path in files.items():
        out[key] = onnx_call(path, x, threads)
    ptes = {"executorch fp32": loaded}
    if int8 is not None:
        ptes["executorch int8"] = int8
    for key, model in ptes.items():
        path = os.path.join(folder, f"{name}_{key.split()[1]}.pte")
        result = export_executorch(model, path, size, allow_portable=True)
        info[f"{name} {key}"] = dict(delegation=result.delegation.to_dict(), agreement=result.agreement,
                                     max_prob_diff=result.max_prob_diff)
        out[key] = pte_call(path, x)
    return out


def time_alternating(calls: Dict[str, Callable[[], Any]], rounds: int, runs: int) -> Dict[str, List[float]]:
    """Per key, the median latency (ms) of each round; all keys alternate within a round (order reversed on odd
    rounds)."""
    with torch.inference_mode():
        for fn in calls.values():
            for _ in range(5):
                fn()
        times: Dict[str, List[float]] = {k: [] for k in calls}
        for r in range(rounds):
            for key in (list(calls) if r % 2 == 0 else list(reversed(list(calls)))):
                fn = calls[key]
                fn()
                one = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    fn()
                    one.append((time.perf_counter() - t0) * 1e3)
                times[key].append(statistics.median(one))
    return times


def variant_bench_main(argv: Optional[Sequence[str]], prog: str, description: str, measure: Callable[..., Any],
                       markdown: Callable[..., str], models: Sequence[str], block: str) -> int:
    """The command line of a bench of model variants in the runtimes (``int8_pools``, ``spc_forms``): ``--models``,
    ``--clips``, ``--rounds``, ``--runs`` (per round on a 1-s clip, a tenth on 10 s) and the docs-block options;
    ``measure(models, clips, rounds, runs)`` gives the rows, ``markdown(rows, command, rounds)`` the block."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--models", nargs="+", default=list(models))
    p.add_argument("--clips", nargs="+", default=["1s", "10s"], choices=sorted(CLIPS))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runs", type=int, default=20, help="runs per round on a 1-s clip (a tenth of it on 10 s)")
    add_block_arguments(p, ROOT / "docs" / "deploy.md", block)
    args = p.parse_args(argv)
    runs = {clip: max(2, args.runs if clip == "1s" else args.runs // 10) for clip in args.clips}
    rows = measure(args.models, args.clips, args.rounds, runs)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    publish(args, markdown(rows, " ".join([prog, *argv_list]), args.rounds))
    return 0


def time_variants(models: Sequence[str], clips: Sequence[str], rounds: int, runs: Dict[str, int],
                  calls: Callable[[str, Sequence[int], str, int], Dict[str, Dict[str, Callable[[], Any]]]],
                  threads: int = 1) -> Iterator[Tuple[str, str, str, Dict[str, List[float]]]]:
    """``(model, clip, runtime, times)`` of each runtime's variants of each model and clip (``int8_pools``,
    ``spc_forms``): ``calls(name, size, folder, threads)`` gives ``{runtime: {variant: call}}`` (files in a
    temporary ``folder``), whose calls alternate in rounds (:func:`time_alternating`, ``threads`` threads)."""
    from lightops.deploy.executorch import require_executorch

    require_executorch()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        for clip in clips:
            for name in models:
                for runtime, by_variant in calls(name, CLIPS[clip], folder, threads).items():
                    yield name, clip, runtime, time_alternating(by_variant, rounds, runs[clip])


def summarise(times: Dict[str, List[float]]) -> List[Dict[str, Any]]:
    """One row per (model, runtime, dtype): median ms, ratio to the reference's same runtime and dtype (or fp32 for
    int8 rows), and int8 to fp32."""
    rows = []
    for key, t in times.items():
        model, runtime, dtype = key.split(" ")
        ref = times.get(f"{REFERENCE} {runtime} {dtype}") or times.get(f"{REFERENCE} {runtime} fp32")
        fp32 = times.get(f"{model} {runtime} fp32") if dtype == "int8" else None
        rows.append(dict(model=model, runtime=runtime, dtype=dtype, ms=statistics.median(t),
                         ratio_reference=statistics.median(a / b for a, b in zip(t, ref)) if ref else None,
                         ratio_fp32=statistics.median(a / b for a, b in zip(t, fp32)) if fp32 else None))
    return rows


def _portable(export: Optional[Dict[str, Any]]) -> str:
    if not export or "delegation" not in export:
        return ""
    ops = export["delegation"]["portable"]
    return ", ".join(f"{n} {op}" for op, n in sorted(ops.items())) if ops else "none"


def markdown(results: Dict[str, Any]) -> str:
    """The docs block of a results dict: settings and command, then one row per (model, runtime, dtype)."""
    lines = [wrap(f"{results['clip']} clip {tuple(results['input_size'])}, batch 1, {results['threads']} thread"
             f"{'s' if results['threads'] > 1 else ''}, random weights, int8 form `{results['int8_form']}`; medians "
             f"of {results['rounds']} alternating rounds of {results['runs']} runs; `x mnv3` is the median per-round "
             f"ratio to {REFERENCE} in the same runtime at fp32, `int8 / fp32` to the same model's fp32 row."), "",
             f"Command: `{results['command'].strip()}` ({results['date']}; {results['machine']}).", "",
             "| model | runtime | dtype | ms | x mnv3 | int8 / fp32 | portable operators |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in results["rows"]:
        ref = f"{r['ratio_reference']:.2f}" if r["ratio_reference"] else ""
        fp32 = f"{r['ratio_fp32']:.2f}" if r["ratio_fp32"] else ""
        portable = _portable(results["exports"].get(f"{r['model']} {r['runtime']} {r['dtype']}")) \
            if r["runtime"] == "executorch" else ""
        lines.append(f"| {r['model']} | {r['runtime']} | {r['dtype']} | {r['ms']:.2f} | {ref} | {fp32} | {portable} |")
    skipped = {k: v["error"] for k, v in results["exports"].items() if "error" in v}
    if skipped:
        lines += ["", "No row: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    return "\n".join(lines)


def figure(results: Dict[str, Any], path: str) -> None:
    """Bar chart of the medians: one group per model, one bar per (runtime, dtype), log-scaled milliseconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    order = ("eager", "torchscript", "onnxruntime", "executorch")
    kinds = sorted({f"{r['runtime']} {r['dtype']}" for r in rows},
                   key=lambda k: (order.index(k.split()[0]) if k.split()[0] in order else len(order), k))
    ms = {(r["model"], f"{r['runtime']} {r['dtype']}"): r["ms"] for r in rows}
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for k, kind in enumerate(kinds):
        xs = [i + width * k for i, m in enumerate(models) if (m, kind) in ms]
        ax.bar(xs, [ms[(m, kind)] for m in models if (m, kind) in ms], width=width, label=kind)
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models, rotation=10, fontsize=8)
    ax.set_yscale("log")
    for axis_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_ylabel("ms per clip (median)")
    ax.set_title(f"{results['clip']} clip, batch 1, {results['threads']} thread(s)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _publish(args: argparse.Namespace, results: Dict[str, Any]) -> None:
    """Write the docs block (``--block``) and the chart (``--png``) of a results dict."""
    if args.block:
        write_block(args.docs, args.block, markdown(results))
    if args.png:
        figure(results, args.png)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export, time, print the rows and write the JSON."""
    args = parse_args(argv)
    if args.from_json:
        _publish(args, json.loads(open(args.from_json).read()))
        return 0
    rounds, runs = (3, 10) if args.quick else (args.rounds, args.runs)
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

    _unsafe_reset_threadpool(threads)
    size = CLIPS[args.clip]
    info: Dict[str, Any] = {}
    calls: Dict[str, Callable[[], Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            calls.update({f"{name} {k}": v for k, v in runners(name, size, folder, info, args.form, args.int8,
                                                                  threads).items()})
        times = time_alternating(calls, rounds, runs)
    rows = summarise(times)
    results = dict(command="python -m benchmarks.bench_runtimes " + " ".join(argv or sys.argv[1:]),
                   date=time.strftime("%Y-%m-%d"), machine=machine(), clip=args.clip, input_size=list(size),
                   rounds=rounds, runs=runs,
                   threads=threads, int8_form=args.form, rows=rows, exports=info, versions={"torch": torch.__version__})
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    from lightops.fileio import atomic_write_json

    atomic_write_json(results, args.json)
    for r in rows:
        ref = f"{r['ratio_reference']:.2f}" if r["ratio_reference"] else "-"
        fp32 = f"{r['ratio_fp32']:.2f}" if r["ratio_fp32"] else "-"
        print(f"{r['model']:<22} {r['runtime']:<12} {r['dtype']:<5} {r['ms']:8.3f} ms  x{REFERENCE}: {ref:>5}  "
              f"int8/fp32: {fp32}")
    print(json.dumps({k: v["delegation"]["portable"] for k, v in info.items() if "delegation" in v}))
    _publish(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
