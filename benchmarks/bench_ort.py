"""Speed where the models are deployed: every DSSDN variant and timm's MobileNetV3 peers in ONNX Runtime.

Each model is exported the same way (:func:`lightops.deploy.export_onnx`: fused, checked against PyTorch; the peers
are timm's ``mobilenetv3_small_050`` / ``_100`` with ``in_chans=1, num_classes=10``), both with a fixed clip length
(``lightops export --static``: one file per clip, batch dynamic) and with a dynamic time axis (``lightops export``:
one file for both clips), and run by onnxruntime on CPU with 1 intra-op thread, ``ORT_ENABLE_ALL`` and batch 1, on a
1-s ``(1, 256, 44)`` and a 10-s ``(1, 256, 431)`` log-mel. The fixed-length DSSDN files are also quantized to int8
(:func:`lightops.deploy.quantize.quantize_onnx`: static QDQ, per-channel, calibrated on synthetic scenes). Timing
alternates all files of a clip in rounds (each round times every file ``--runs`` times); the table gives each file's
median, its GMAC/s (the model's MACs as lightops counts them, divided by the time), and its time relative to
mobilenetv3_small_100 exported the same way (same MACs as dssdn_small on 1 s), both as a ratio of medians ("back to
back") and as the median of per-round ratios ("alternating"); int8 rows also give their ratio to their fp32 file.
From the graph ORT optimises (``optimized_model_filepath``) it counts nodes, and from ORT's profiler the share of
node time per operator type. Writes ``benchmarks/results/bench_ort.json``, the block ``ort-bench`` of docs/deploy.md
and ``docs/deploy_ort.png``.

::

    python -m benchmarks.bench_ort                  # fixed-length and dynamic exports, int8
    python -m benchmarks.bench_ort --exports static --no-int8 --quick --no-docs   # a look
    lightops bench --runtime onnxruntime            # the same
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from benchmarks.common import CLIPS, ROOT, build
from benchmarks.docs.blocks import write_block

DSSDN = ["dssdn_small", "dssdn_middle", "dssdn_large"]
PEERS = ["mobilenetv3_small_050", "mobilenetv3_small_100"]
REFERENCE = "mobilenetv3_small_100"
SIZES = {"1 s": CLIPS["1s"], "10 s": CLIPS["10s"]}
MARKER = "ort-bench"
EXPORTS = ("static", "dynamic")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ort", description=__doc__.split("\n\n")[0])
    p.add_argument("--exports", nargs="+", choices=EXPORTS, default=list(EXPORTS),
                   help="fixed-length (lightops export --static) and/or dynamic-time exports")
    p.add_argument("--static", action="store_true", help="only the fixed-length exports (--exports static)")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 files")
    p.add_argument("--int8-ops", choices=["all", "conv"], default="all",
                   help="operators quantized: every supported one (the faster file) or Conv and Gemm only "
                        "(quantize_int8's default)")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    p.add_argument("--runs", type=int, default=30, help="timed runs per model and round")
    p.add_argument("--quick", action="store_true", help="3 rounds of 10 runs")
    p.add_argument("--exporter", default="auto", help="torch.onnx exporter (auto, dynamo, torchscript)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bench_ort.json"))
    p.add_argument("--docs", default=str(ROOT / "docs" / "deploy.md"))
    p.add_argument("--png", default=str(ROOT / "docs" / "deploy_ort.png"))
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/deploy.md or the figure")
    return p.parse_args(argv)


def export_all(folder: str, exports: Sequence[str], exporter: str, int8: bool, int8_ops: str = "all"
               ) -> Dict[str, Dict[str, str]]:
    """ONNX files per ``"model export"`` and clip: one fixed-length file per clip, one dynamic file for both; with
    ``int8``, the fixed-length DSSDN files quantized (``"model int8"``)."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy import export_onnx
    from lightops.deploy.quantize import calibration_inputs, quantize_onnx

    files: Dict[str, Dict[str, str]] = {}
    for name in DSSDN + PEERS:
        model = build(name)
        for kind in exports:
            key = f"{name} {kind}"
            files[key] = {}
            for clip, size in SIZES.items():
                if kind == "dynamic" and files[key]:
                    files[key][clip] = next(iter(files[key].values()))
                    continue
                path = os.path.join(folder, f"{name}_{kind}_{clip.replace(' ', '')}.onnx")
                export_onnx(model, path, size, static=kind == "static", batch_size=1, exporter=exporter)
                files[key][clip] = path
        if int8 and name in DSSDN and "static" in exports:
            files[f"{name} int8"] = {}
            for clip, size in SIZES.items():
                path = os.path.join(folder, f"{name}_int8_{clip.replace(' ', '')}.onnx")
                batches = calibration_inputs("synthetic", LoadedModel(model), size, num_batches=4, batch_size=2)
                quantize_onnx(files[f"{name} static"][clip], path, batches,
                              op_types=None if int8_ops == "all" else ("Conv", "Gemm"))
                files[f"{name} int8"][clip] = path
    return files


def graph_profile(path: str, size: Sequence[int], runs: int = 30) -> Dict[str, Any]:
    """Nodes of ORT's optimised graph (by type) and the share of node time per operator type."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = os.path.join(tmp, "opt.onnx")
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "prof")
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((1, *size)).astype(np.float32)
        name = sess.get_inputs()[0].name
        for _ in range(runs):
            sess.run(None, {name: x})
        trace = sess.end_profiling()
        nodes = Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
        with open(trace) as fh:
            events = json.load(fh)
    time_by_op: Dict[str, float] = defaultdict(float)
    for ev in events:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            time_by_op[ev["args"].get("op_name", "?")] += ev.get("dur", 0)
    total = sum(time_by_op.values()) or 1.0
    return dict(nodes=sum(nodes.values()), nodes_by_type=dict(nodes.most_common()),
                time_share={k: v / total for k, v in sorted(time_by_op.items(), key=lambda kv: -kv[1])})


def time_interleaved(files: Dict[str, Dict[str, str]], rounds: int, runs: int) -> Dict[str, Dict[str, List[float]]]:
    """Per (clip, model): the median latency (ms) of each round; models alternate within a round."""
    from lightops.deploy import ort_session

    out: Dict[str, Dict[str, List[float]]] = {}
    for clip, size in SIZES.items():
        sessions = {m: ort_session(f[clip], threads=1) for m, f in files.items()}
        x = np.random.default_rng(0).standard_normal((1, *size)).astype(np.float32)
        feeds = {m: {s.get_inputs()[0].name: x} for m, s in sessions.items()}
        for m, s in sessions.items():  # warm-up
            for _ in range(5):
                s.run(None, feeds[m])
        out[clip] = {m: [] for m in sessions}
        for _ in range(rounds):
            for m, s in sessions.items():
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    s.run(None, feeds[m])
                    times.append((time.perf_counter() - t0) * 1e3)
                out[clip][m].append(statistics.median(times))
    return out


def summarise(times: Dict[str, Dict[str, List[float]]], profiles: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (file, clip): median ms, GMAC/s, ratios to the reference of the same export, nodes, Conv share."""
    from lightops.profiling import complexity

    rows = []
    for clip, per_file in times.items():
        for key, t in per_file.items():
            model, kind = key.split(" ")
            ref = per_file[f"{REFERENCE} {'static' if kind == 'int8' else kind}"]
            macs = complexity(build(model), SIZES[clip])[1]
            med = statistics.median(t)
            prof = profiles[f"{key} {clip}"]
            fp32 = per_file.get(f"{model} static") if kind == "int8" else None
            rows.append(dict(model=model, export=kind, clip=clip, macs=macs, ms=med, gmacs=macs / med / 1e6,
                             ratio_b2b=med / statistics.median(ref),
                             ratio_alt=statistics.median(a / b for a, b in zip(t, ref)),
                             ratio_fp32=statistics.median(a / b for a, b in zip(t, fp32)) if fp32 else None,
                             nodes=prof["nodes"],
                             conv_share=sum(v for k, v in prof["time_share"].items()
                                            if k in ("Conv", "FusedConv", "QLinearConv", "ConvInteger")),
                             top_ops={k: round(v, 3) for k, v in list(prof["time_share"].items())[:5]}))
    return rows


def table(results: Dict[str, Any]) -> str:
    """The Markdown block for docs/deploy.md."""
    quantized = "every supported operator" if results.get("int8_ops") == "all" else "Conv and Gemm"
    lines = [f"Command: `{results['command']}` ({results['date']}, {results['machine']}; "
             f"{results['rounds']} alternating rounds of {results['runs']} runs, 1 thread, batch 1, "
             f"ORT_ENABLE_ALL). Export `static`: fixed clip length (`lightops export --static`); `dynamic`: dynamic "
             f"time axis; `int8`: the static file quantized ({quantized}). Ratios are to {REFERENCE} exported the "
             f"same way (int8: to its fp32 static file). MACs are the model's as lightops counts them.", "",
             "| model | export | clip | MACs | ORT median ms | GMAC/s | x mnv3_100 (back to back) "
             "| x mnv3_100 (alternating) | int8 x fp32 | nodes after ORT | Conv share of node time "
             "| largest op shares |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    order = {k: i for i, k in enumerate(("static", "dynamic", "int8"))}
    for r in sorted(results["rows"], key=lambda r: (order[r["export"]], r["clip"], (DSSDN + PEERS).index(r["model"]))):
        ops = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["top_ops"].items())
        fp32 = f"{r['ratio_fp32']:.2f}" if r.get("ratio_fp32") else "—"
        lines.append(f"| {r['model']} | {r['export']} | {r['clip']} | {r['macs'] / 1e6:.1f} M | {r['ms']:.2f} | "
                     f"{r['gmacs']:.1f} | {r['ratio_b2b']:.2f} | {r['ratio_alt']:.2f} | {fp32} | {r['nodes']} | "
                     f"{100 * r['conv_share']:.0f}% | {ops} |")
    return "\n".join(lines)


def figure(results: Dict[str, Any], path: str) -> None:
    """Bar chart of GMAC/s per model and clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = DSSDN + PEERS
    kinds = [k for k in EXPORTS if any(r["export"] == k for r in results["rows"])]
    bars = [(clip, kind) for clip in SIZES for kind in kinds]
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for k, (clip, kind) in enumerate(bars):
        vals = [next(r["gmacs"] for r in results["rows"] if r["model"] == m and r["clip"] == clip
                     and r["export"] == kind) for m in models]
        ax.bar(np.arange(len(models)) + width * k, vals, width=width, label=f"{clip}, {kind}")
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models, rotation=15, fontsize=8)
    ax.set_ylabel("GMAC/s (ORT fp32, 1 thread)")
    ax.set_title("Throughput per MAC in ONNX Runtime, batch 1 (model MACs / time)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export, profile, time; print and write the table."""
    args = parse_args(argv)
    rounds, runs = (3, 10) if args.quick else (args.rounds, args.runs)
    exports = ["static"] if args.static else args.exports
    with tempfile.TemporaryDirectory() as folder:
        files = export_all(folder, exports, args.exporter, int8=not args.no_int8, int8_ops=args.int8_ops)
        profiles = {f"{m} {clip}": graph_profile(f[clip], SIZES[clip]) for m, f in files.items() for clip in SIZES}
        times = time_interleaved(files, rounds, runs)
    results = dict(rows=summarise(times, profiles), profiles=profiles, exports=exports, rounds=rounds, runs=runs,
                   int8_ops=args.int8_ops,
                   command=" ".join(["python", "-m", "benchmarks.bench_ort", *(argv if argv is not None else
                                                                             sys.argv[1:])]),
                   date=time.strftime("%Y-%m-%d"),
                   machine=f"{platform.machine()}, {os.cpu_count()} cores, onnxruntime "
                           f"{__import__('onnxruntime').__version__}, load {os.getloadavg()[0]:.1f}")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    print(text)
    if not args.no_docs:
        write_block(args.docs, MARKER, text)
        figure(results, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
