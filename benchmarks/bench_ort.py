"""Speed where the models are deployed: every DSSDN variant and timm's MobileNetV3 peers in ONNX Runtime.

Each model is exported the same way (:func:`lightops.deploy.export_onnx`: fused, checked against PyTorch; the peers
are timm's ``mobilenetv3_small_050`` / ``_100`` with ``in_chans=1, num_classes=10``) and run by onnxruntime on CPU
with 1 intra-op thread, ``ORT_ENABLE_ALL`` and batch 1, on a 1-s ``(1, 256, 44)`` and a 10-s ``(1, 256, 431)``
log-mel. Timing alternates the models in rounds (each round times every model ``--runs`` times); the table gives
each model's median, its GMAC/s, and its time relative to mobilenetv3_small_100 (same MACs as dssdn_small on 1 s)
both as a ratio of medians ("back to back") and as the median of per-round ratios ("alternating"). From the graph
ORT optimises (``optimized_model_filepath``) it counts nodes, and from ORT's profiler the share of node time per
operator type. Writes ``benchmarks/bench_ort.json``, the table between ``<!-- BEGIN ort-bench -->`` and
``<!-- END ort-bench -->`` in docs/deploy.md, and ``docs/deploy_ort.png``.

::

    python benchmarks/bench_ort.py                  # dynamic time axis (what lightops export writes by default)
    python benchmarks/bench_ort.py --static         # fixed-shape exports (lightops export --static)
    python benchmarks/bench_ort.py --quick --no-docs
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

ROOT = Path(__file__).resolve().parents[1]
DSSDN = ["dssdn_small", "dssdn_middle", "dssdn_large"]
PEERS = ["mobilenetv3_small_050", "mobilenetv3_small_100"]
REFERENCE = "mobilenetv3_small_100"
SIZES = {"1 s": (1, 256, 44), "10 s": (1, 256, 431)}
MARKER = "ort-bench"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--static", action="store_true", help="fixed-shape exports instead of a dynamic time axis")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds")
    p.add_argument("--runs", type=int, default=30, help="timed runs per model and round")
    p.add_argument("--quick", action="store_true", help="3 rounds of 10 runs")
    p.add_argument("--exporter", default="auto", help="torch.onnx exporter (auto, dynamo, torchscript)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "bench_ort.json"))
    p.add_argument("--docs", default=str(ROOT / "docs" / "deploy.md"))
    p.add_argument("--png", default=str(ROOT / "docs" / "deploy_ort.png"))
    p.add_argument("--no-docs", action="store_true", help="do not touch docs/deploy.md or the figure")
    return p.parse_args(argv)


def _model(name: str) -> Any:
    import timm

    import lightops

    if name in DSSDN:
        return lightops.create_model(name).eval()
    return timm.create_model(name, in_chans=1, num_classes=10).eval()


def export_all(folder: str, static: bool, exporter: str) -> Dict[str, Dict[str, str]]:
    """ONNX files per (model, clip): one dynamic file per model, or one static file per clip length."""
    import torch

    from lightops.deploy import export_onnx

    files: Dict[str, Dict[str, str]] = {}
    for name in DSSDN + PEERS:
        torch.manual_seed(0)
        model = _model(name)
        files[name] = {}
        for clip, size in SIZES.items():
            if not static and files[name]:
                files[name][clip] = next(iter(files[name].values()))
                continue
            path = os.path.join(folder, f"{name}_{clip.replace(' ', '')}.onnx")
            export_onnx(model, path, size, static=static, batch_size=1, exporter=exporter)
            files[name][clip] = path
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
    """One row per (model, clip): median ms, GMAC/s, ratios to the reference, nodes, Conv share."""
    from lightops.profiling import complexity

    rows = []
    for clip, per_model in times.items():
        ref = per_model[REFERENCE]
        for m, t in per_model.items():
            macs = complexity(_model(m), SIZES[clip])[1]
            med = statistics.median(t)
            prof = profiles[f"{m} {clip}"]
            rows.append(dict(model=m, clip=clip, macs=macs, ms=med, gmacs=macs / med / 1e6,
                             ratio_b2b=med / statistics.median(ref),
                             ratio_alt=statistics.median(a / b for a, b in zip(t, ref)), nodes=prof["nodes"],
                             conv_share=prof["time_share"].get("Conv", 0.0) + prof["time_share"].get("FusedConv", 0.0),
                             top_ops={k: round(v, 3) for k, v in list(prof["time_share"].items())[:6]}))
    return rows


def table(results: Dict[str, Any]) -> str:
    """The Markdown block for docs/deploy.md."""
    lines = [f"Command: `{results['command']}` ({results['date']}, {results['machine']}; "
             f"{'static' if results['static'] else 'dynamic time axis'} exports, {results['rounds']} alternating "
             f"rounds of {results['runs']} runs, 1 thread, batch 1, ORT_ENABLE_ALL). Ratios are to "
             f"{REFERENCE}.", "",
             "| model | clip | MACs | ORT median ms | GMAC/s | x mnv3_100 (back to back) | x mnv3_100 (alternating) "
             "| nodes after ORT | Conv share of node time | largest op shares |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        ops = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["top_ops"].items())
        lines.append(f"| {r['model']} | {r['clip']} | {r['macs'] / 1e6:.1f} M | {r['ms']:.2f} | {r['gmacs']:.1f} | "
                     f"{r['ratio_b2b']:.2f} | {r['ratio_alt']:.2f} | {r['nodes']} | {100 * r['conv_share']:.0f}% | "
                     f"{ops} |")
    return "\n".join(lines)


def figure(results: Dict[str, Any], path: str) -> None:
    """Bar chart of GMAC/s per model and clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = DSSDN + PEERS
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for k, clip in enumerate(SIZES):
        vals = [next(r["gmacs"] for r in results["rows"] if r["model"] == m and r["clip"] == clip) for m in models]
        ax.bar(np.arange(len(models)) + 0.4 * k, vals, width=0.4, label=clip)
    ax.set_xticks(np.arange(len(models)) + 0.2, models, rotation=15, fontsize=8)
    ax.set_ylabel("GMAC/s (ORT, 1 thread)")
    ax.set_title("Throughput per MAC in ONNX Runtime, batch 1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Export, profile, time; print and write the table."""
    args = parse_args(argv)
    rounds, runs = (3, 10) if args.quick else (args.rounds, args.runs)
    with tempfile.TemporaryDirectory() as folder:
        files = export_all(folder, args.static, args.exporter)
        profiles = {f"{m} {clip}": graph_profile(f[clip], SIZES[clip]) for m, f in files.items() for clip in SIZES}
        times = time_interleaved(files, rounds, runs)
    results = dict(rows=summarise(times, profiles), profiles=profiles, static=args.static, rounds=rounds, runs=runs,
                   command=" ".join(["python", "benchmarks/bench_ort.py", *(argv if argv is not None else
                                                                             sys.argv[1:])]),
                   date=time.strftime("%Y-%m-%d"),
                   machine=f"{platform.machine()}, {os.cpu_count()} cores, onnxruntime "
                           f"{__import__('onnxruntime').__version__}, load {os.getloadavg()[0]:.1f}")
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    print(text)
    if not args.no_docs:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from docs_blocks import write_block

        write_block(args.docs, MARKER, text)
        figure(results, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
