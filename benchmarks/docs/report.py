"""Turn pytest-benchmark JSON into docs/benchmarks.md (tables, targets, what helps) and the bubble figure.

Input: the ``--benchmark-json`` of ``bench_ops.py`` and ``bench_models.py`` (one run, or several merged), and
optionally the model suite re-run under other malloc settings (``--alloc MODE=PATH``). Every benchmark carries
its group, label, params, MACs and whether it is its group's reference in ``extra_info`` (``benchmarks/conftest.py``);
ratios are taken within a group, so they come from one run.

The block ``notes`` of an existing page (between ``<!-- BEGIN notes -->`` and ``<!-- END notes -->``) is kept when the
page is regenerated: hand-written analysis goes there.

Usage::

    python -m benchmarks.docs.report bench.json [--alloc default=a.json --alloc env=b.json]
        [--out docs/benchmarks.md] [--png docs/benchmarks_bubble.png]
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.common import stated_clip
from benchmarks.docs.bench_rows import (
    MODEL_ORDER,
    Row,
    best_of,
    find_rows,
    fmt_count,
    fmt_time,
    geomean,
    group_rows,
    group_table,
    load,
    merge,
    para,
    rows_from,
    span,
    table,
)
from benchmarks.docs.blocks import find_blocks, markers, read_block, replace_block

NOTES = "notes"  # the hand-written block of the page
TARGET_PCT = {"dssdn_large": 25.0, "dssdn_middle": 10.0, "dssdn_small": 10.0}
REFERENCE_MODEL = "mobilenetv3_small_050"


# ---- sections --------------------------------------------------------------------------------------------------

def conditions(data: Dict[str, Any]) -> str:
    """The machine, torch, threads, allocator, peak, load and date of a run."""
    mi = data.get("machine_info", {})
    lo = mi.get("lightops", {})
    peak = lo.get("peak", {})
    alloc = lo.get("allocator", {})
    mallopt = ", ".join(f"{k}={v:,}" for k, v in alloc.get("mallopt", {}).items()) or "none"
    env = ", ".join(f"{k}={v}" for k, v in alloc.get("env", {}).items() if v) or "none"
    load_start, load_end = lo.get("load_start", []), lo.get("load_end", [])
    rows = [
        ("CPU", f"{lo.get('cpu_model', mi.get('processor', '?'))}, {lo.get('cpu_count', '?')} logical cores"),
        ("Python / torch", f"{mi.get('python_version', '?')} / {lo.get('torch', '?')}"),
        ("threads, batch", f"{lo.get('threads', '?')} intra-op thread, batch 1, eval mode, `torch.inference_mode()`"),
        ("oneDNN (mkldnn)", "enabled" if lo.get("mkldnn_enabled") else "disabled"),
        ("allocator", f"{alloc.get('libc', '?')}, {alloc.get('replacement') or 'glibc malloc'}; "
                      f"mallopt: {mallopt}; malloc env: {env}"),
        ("fp32 peak (measured)", f"{peak.get('peak_macs_per_s', 0) / 1e9:.1f} GMAC/s, the higher of a "
                                 f"{peak.get('sgemm_n', '?')}^3 sgemm ({peak.get('gflops_best', 0):.1f} GFLOP/s) and "
                                 f"a 256 -> 256 3x3 convolution on 32x32 ({peak.get('conv_gflops_best', 0):.1f} "
                                 f"GFLOP/s); 1 thread, best of 10, at the start and end of the run"),
        ("load average (1, 5, 15 min)", f"start {_load(load_start)}, end {_load(load_end)}"),
        ("date", f"{lo.get('start', data.get('datetime', '?'))} to {lo.get('end', '?')}"),
        ("run", "quick (`--quick`)" if lo.get("quick") else "full"),
    ]
    return table(["", ""], rows, "ll")


def _load(xs: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs) if xs else "?"


def _peak(data: Dict[str, Any]) -> Optional[float]:
    return data.get("machine_info", {}).get("lightops", {}).get("peak", {}).get("peak_macs_per_s")



def pair_ratios(data: Dict[str, Any], **match: Any) -> List[float]:
    """Interleaved ratios (``lightops_pairs`` of the JSON, ``conftest.interleaved_ratio``) matching ``match``."""
    return [p["ratio"] for p in data.get("lightops_pairs", []) if all(p.get(k) == v for k, v in match.items())]


def _worst(xs: Sequence[float], goal: float) -> Tuple[str, str]:
    """``(summary, verdict)`` for ratios that must stay at or below ``goal``."""
    met = sum(x <= goal for x in xs)
    verdict = "met" if met == len(xs) else f"missed by up to {max(xs) / goal - 1:.0%}"
    return f"{met}/{len(xs)} shapes; worst {max(xs):.2f}x, geo-mean {geomean(xs):.2f}x", verdict


def targets(rows: List[Row], peak: Optional[float], data: Optional[Dict[str, Any]] = None) -> str:
    """The four targets, each measured on medians (the verdict), on the fastest rounds, and (where the run timed
    them) as ratios of calls timed in alternation, which a shared machine's drifting speed does not bias."""
    data = data or {}
    groups = group_rows(r for r in rows if r.info.get("kind") in ("op", "peer"))
    body = []
    for mode in ("eager", "fused"):
        sc = [r for g in groups.values() for r in g if r.op_key == "sc" and r.info.get("mode") == mode
              and r.ratio is not None]
        if sc:
            value, verdict = _worst([r.ratio for r in sc], 1.2)
            mins = [r.ratio_min for r in sc if r.ratio_min is not None]
            inter = pair_ratios(data, kind="op", a="sc", a_mode=mode, b="dwsep")
            body.append([f"SC ({mode}) / depthwise-separable <= 1.2x", value, verdict,
                         " — ".join(_worst(mins, 1.2)) if mins else "—",
                         " — ".join(_worst(inter, 1.2)) if inter else "—"])
    for op, name in (("osc", "OSC"), ("osc_exact", "OSC exact"), ("spc", "SPC")):
        for mode in ("eager", "fused", "fused_merge_pw"):
            sc_mode = "eager" if mode == "eager" else "fused"
            rel, rel_min = [], []
            for g in groups.values():
                sc = [r for r in g if r.op_key == "sc" and r.info.get("mode") == sc_mode]
                other = [r for r in g if r.op_key == op and r.info.get("mode") == mode]
                if sc and other:
                    rel.append(other[0].median_s / sc[0].median_s)
                    rel_min.append(other[0].min_s / sc[0].min_s)
            if rel:
                what = "fused, merge_pointwise=auto" if mode == "fused_merge_pw" else mode
                value, verdict = _worst(rel, 1.0)
                inter = pair_ratios(data, kind="op", a=op, a_mode=mode, b="sc", b_mode=sc_mode)
                body.append([f"{name} ({what}) <= SC ({sc_mode}), same shape", value, verdict,
                             " — ".join(_worst(rel_min, 1.0)) if all(x == x for x in rel_min) else "—",
                             " — ".join(_worst(inter, 1.0)) if inter else "—"])
    models = [r for r in rows if r.info.get("kind") == "model" and r.info.get("clip") == "1s"]
    ref_eager = find_rows(models, model=REFERENCE_MODEL, mode="eager")
    ref_frozen = find_rows(models, model=REFERENCE_MODEL, mode="frozen")
    for mode in ("eager", "fused", "frozen"):
        small = find_rows(models, model="dssdn_small", mode=mode)
        if small and ref_eager:
            s, ref = small[0], ref_eager[0]
            r = s.median_s / ref.median_s
            value = f"{fmt_time(s.median_s)} vs {fmt_time(ref.median_s)} = {r:.2f}x"
            if ref_frozen and mode == "frozen":
                value += f"; {s.median_s / ref_frozen[0].median_s:.2f}x of {REFERENCE_MODEL} frozen " \
                         f"({fmt_time(ref_frozen[0].median_s)})"
            on_min = f"{fmt_time(s.min_s)} vs {fmt_time(ref.min_s)} = {s.min_s / ref.min_s:.2f}x"
            inter = pair_ratios(data, kind="model", a="dssdn_small", a_mode=mode, b=REFERENCE_MODEL, b_mode="eager")
            body.append([f"dssdn_small ({mode}), 1-s clip, faster than {REFERENCE_MODEL} (eager)", value,
                         "met" if r < 1.0 else f"missed by {r - 1:.0%}", on_min,
                         f"{inter[0]:.2f}x: {'met' if inter[0] < 1 else 'missed'}" if inter else "—"])
    for mode in ("frozen", "frozen_cl"):
        inter = pair_ratios(data, kind="model", a="dssdn_small", a_mode=mode, b=REFERENCE_MODEL, b_mode=mode)
        if inter:
            body.append([f"dssdn_small ({mode}), 1-s clip, faster than {REFERENCE_MODEL} ({mode})", "—", "—", "—",
                         f"{inter[0]:.2f}x: {'met' if inter[0] < 1 else 'missed'}"])
    if peak:
        for name, goal in TARGET_PCT.items():
            clip = stated_clip(name)
            for mode in ("eager", "fused", "frozen"):
                hit = find_rows((r for r in rows if r.info.get("kind") == "model"), model=name, mode=mode, clip=clip)
                if hit:
                    h = hit[0]
                    pct, pct_min = 100 * h.macs_per_s / peak, 100 * h.macs / h.min_s / peak
                    body.append([f"{name} ({mode}) MAC/s on the {clip[:-1]}-s clip >= {goal:.0f} % of peak",
                                 f"{fmt_count(h.macs_per_s)}MAC/s = {pct:.1f} % of peak",
                                 "met" if pct >= goal else f"missed: {pct / goal:.0%} of the goal",
                                 f"{pct_min:.1f} % of peak", "—"])
    if not body:
        return ""
    return table(["target", "measured (medians)", "verdict", "on the fastest rounds", "timed in alternation"],
                 body, "lllll")


def pairs_table(data: Dict[str, Any]) -> str:
    """Ratios timed in alternation: operators as one row per shape and one column per pair ``a / b``, then the
    model pairs one per row. A ratio above the pair's target is marked with ``!``."""
    cols: List[str] = []
    cells: Dict[str, Dict[str, str]] = {}
    models = []
    for p in data.get("lightops_pairs", []):
        flag = "!" if p["ratio"] > p["goal"] else ""
        if p.get("kind") == "model":
            goal = f"<= {p['goal']:g}" if p["goal"] != math.inf else "—"
            models.append([f"{p['a']} ({p['a_mode']}) / {p['b']} ({p['b_mode']}), {p.get('clip', '')}",
                           f"{p['ratio']:.2f}x{flag}", goal, fmt_time(p["a_s"]), fmt_time(p["b_s"])])
            continue
        col = f"{_short(p['a'], p['a_mode'])} / {_short(p['b'], p['b_mode'])} (<= {p['goal']:g})"
        if col not in cols:
            cols.append(col)
        cells.setdefault(p.get("group", "").removeprefix("op "), {})[col] = f"{p['ratio']:.2f}{flag}"
    parts = []
    if cells:
        parts.append(table(["shape", *cols], [[w] + [row.get(c, "—") for c in cols] for w, row in cells.items()]))
    if models:
        parts.append(table(["models", "ratio", "target", "a", "b"], models, "lrlrr"))
    return "\n\n".join(parts)


def _short(name: str, mode: str) -> str:
    label = {"dwsep": "dwsep", "sc": "SC", "osc": "OSC", "osc_exact": "OSC exact", "spc": "SPC"}.get(name, name)
    return label if name == "dwsep" else f"{label} {mode}"


def fusion_summary(rows: List[Row]) -> str:
    """Fused over eager per operator (op groups) and per model."""
    body = []
    op_groups = group_rows(r for r in rows if r.info.get("kind") in ("op", "peer")).values()
    for op, name, mode in (("sc", "SC", "fused"), ("osc", "OSC", "fused"), ("osc", "OSC", "fused_merge_pw"),
                           ("osc_exact", "OSC exact", "fused"), ("osc_exact", "OSC exact", "fused_merge_pw"),
                           ("spc", "SPC", "fused"), ("ghost", "ghost module", "fused")):
        sp = []
        for g in op_groups:
            e = [r for r in g if r.op_key == op and r.info.get("mode") == "eager"]
            f = [r for r in g if r.op_key == op and r.info.get("mode") == mode]
            if e and f:
                sp.append(e[0].median_s / f[0].median_s)
        if sp:
            body.append([f"{name}, {'fused, merge_pointwise=auto' if mode == 'fused_merge_pw' else mode}", span(sp)])
    for model in MODEL_ORDER:
        for clip in ("1s", "10s"):
            e = find_rows(rows, kind="model", model=model, clip=clip, mode="eager")
            for mode in ("fused", "frozen"):
                f = find_rows(rows, kind="model", model=model, clip=clip, mode=mode)
                if e and f:
                    body.append([f"{model}, {clip[:-1]}-s clip, {mode}", f"{e[0].median_s / f[0].median_s:.2f}x"])
    return table(["", "speed-up over eager"], body, "ll") if body else ""


def study_tables(rows: List[Row], study: str, peak: Optional[float], extra: Sequence[str] = ()) -> str:
    """One table per group of a study."""
    out = []
    for group, rs in group_rows(r for r in rows if r.info.get("study") == study).items():
        out += [f"**{group.removeprefix('study: ')}**", "", group_table(rs, peak, extra), ""]
    return "\n".join(out)


def allocator_table(runs: Dict[str, List[Row]]) -> str:
    """Median per malloc setting for every benchmark present in all runs, and the speed-up over ``default``."""
    if len(runs) < 2:
        return ""
    modes = list(runs)
    index = {m: {(r.group, r.label): r for r in rs} for m, rs in runs.items()}
    keys = [k for k in index[modes[0]] if all(k in index[m] for m in modes)]
    head = ["benchmark"] + [f"{m}" for m in modes] + [f"{m} vs {modes[0]}" for m in modes[1:]]
    body = []
    for k in keys:
        base = index[modes[0]][k].median_s
        body.append([f"{k[1]}, {k[0].removeprefix('model ')}"] + [fmt_time(index[m][k].median_s) for m in modes]
                    + [f"{base / index[m][k].median_s:.2f}x" for m in modes[1:]])
    return table(head, body)


def render(data: Dict[str, Any], alloc: Optional[Dict[str, Dict[str, Any]]] = None, notes: str = "",
           png_name: Optional[str] = None) -> str:
    """The whole docs/benchmarks.md page."""
    rows = rows_from(data)
    peak = _peak(data)
    groups = group_rows(rows)
    parts = [
        "# Benchmarks",
        "",
        para("Latency of the lightops operators and DSSDN models against the layers and models a user would pick "
        "instead, on one CPU thread at batch 1. Generated by `python -m benchmarks.run` (`--quick` for a short run) "
        "from pytest-benchmark JSON; edit the notes at the end, not the tables. Every benchmark runs from the "
        "repository root as `python -m benchmarks.<name>` (`run`, `bench_ort`, `bench_deploy`, `allocator`, "
        "`compare`; the pytest suites also as `python -m pytest benchmarks/bench_ops.py`). Medians of many rounds; "
        "ratios are taken within one group of one run. MACs are the nominal ones of the unfused module (DCASE "
        "convention), so MAC/s is useful work per second; % of peak compares it with the measured peak of the same "
        "thread (Conditions)."),
        "",
        "## Conditions",
        "",
        conditions(data),
        "",
        "## Targets",
        "",
        targets(rows, peak, data),
        "",
        para("Ratios timed in alternation (11 rounds, each one warm-up call and then a block of timed calls of each "
        "side, order swapped every round; median of the round ratios; `!`: above the target; `a`, `b`: the lowest "
        "round medians):"),
        "",
        pairs_table(data),
        "",
        "## Models",
        "",
        para("Modes: *eager* as built; *fused* = `lightops.deploy.fuse(model)`; *frozen* = "
        "`torch.jit.freeze(torch.jit.trace(m))` of the fused DSSDN or of the MobileNet (freezing folds its "
        "BatchNorms). Reference: `mobilenetv3_small_050` eager (timm, `in_chans=1, num_classes=10`)."),
        "",
    ]
    if png_name:
        parts += [f"![MACs against latency, bubble area proportional to parameters]({png_name})", ""]
    for g, rs in groups.items():
        if g.startswith("model "):
            parts += [f"### {g}", "", group_table(rs, peak), ""]
    parts += [
        "## Operators",
        "",
        para("Every operator `C -> C` at the `(C, F, T)` its DSSDN block runs (block 1, 3, 5 of each variant, both "
        "clips; the quick run keeps block 1 on the stated clip). Bare operators (no norm, no activation); *fused* = "
        "`lightops.deploy.fuse(op)`. Reference: depthwise-separable convolution (timm `SeparableConv2d`, dw 3x3 then "
        "1x1). Peers: dense 3x3; BSConv-U (1x1 then dw 3x3); GhostNet's ghost module (timm `GhostModule`, BatchNorm "
        "kept, activation off); FasterNet PConv (dense 3x3 on `C // 4` channels, rest passed through) followed by "
        "a 1x1 so that it mixes channels like SC. *OSC exact* eager evaluates its orthogonal parametrization on "
        "every call, as an unfused model would."),
        "",
    ]
    for g, rs in groups.items():
        if g.startswith("op "):
            parts += [f"### {g.removeprefix('op ')}", "", group_table(rs, peak), ""]
    parts += ["## What helps", "", "### Fusion", "", fusion_summary(rows), ""]
    for study, title, extra in (
        ("depthwise", "Depthwise 3x1 + 1x3 pair against one 3x3 (outer-product kernel)", ()),
        ("layout", "Channels-last against contiguous memory", ()),
        ("spc", "SPC: split and concatenate", ()),
        ("time_pool", "DSSDB time pooling: AvgPool2d((1, 2), ceil_mode=True) against strided add", ()),
        ("model", "Model deployment options (stated clip)", ("compile_s",)),
    ):
        text = study_tables(rows, study, peak, extra)
        if text:
            parts += [f"### {title}", "", text]
    if alloc:
        parts += ["### Allocator (glibc malloc thresholds)", "",
                  para("The model suite in separate processes: `default` = glibc's dynamic thresholds, `mallopt` = "
                  "`lightops.profiling.configure_malloc()` (32 MiB mmap, 1 GiB trim threshold), `env` = the same "
                  "thresholds as `MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` at start-up. Eager models; the "
                  "settings alternate over rounds of processes and each benchmark keeps its lowest median."), "",
                  allocator_table({m: rows_from(d) for m, d in alloc.items()}), ""]
    parts += ["## Notes", "", *markers(NOTES), ""]
    return replace_block("\n".join(parts), NOTES, notes)


def existing_notes(path: Path) -> str:
    """The hand-written block between the notes markers of an existing page ('' if none)."""
    if not path.exists():
        return ""
    text = path.read_text()
    return read_block(path, NOTES) if NOTES in find_blocks(text) else ""


def bubble_png(data: Dict[str, Any], path: str | Path) -> None:
    """MACs (x) against median latency (y) per model, bubble area proportional to params; one panel per clip.

    Filled bubbles: the *frozen* deployment (the same treatment for every model); hollow markers: eager.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows_from(data) if r.info.get("kind") == "model"]
    clips = [c for c in ("1s", "10s") if any(r.info.get("clip") == c for r in rows)]
    fig, axes = plt.subplots(1, max(1, len(clips)), figsize=(6.2 * max(1, len(clips)), 4.8), squeeze=False)
    colors = {"dssdn_large": "tab:red", "dssdn_middle": "tab:orange", "dssdn_small": "tab:green",
              "mobilenetv3_small_050": "tab:blue", "mobilenetv3_small_100": "tab:purple"}
    for ax, clip in zip(axes[0], clips):
        for model in MODEL_ORDER:
            best = find_rows(rows, model=model, clip=clip, mode="frozen") or find_rows(rows, model=model, clip=clip,
                                                                               mode="eager")
            eager = find_rows(rows, model=model, clip=clip, mode="eager")
            if not best:
                continue
            r = best[0]
            color = colors.get(model, "tab:gray")
            ax.scatter(r.macs, r.median_s * 1e3, s=r.params / 1e3 * 1.5, color=color, alpha=0.55, edgecolor="k")
            if eager:
                ax.scatter(eager[0].macs, eager[0].median_s * 1e3, s=30, facecolor="none", edgecolor=color)
                ax.plot([r.macs, r.macs], [r.median_s * 1e3, eager[0].median_s * 1e3], color=color, lw=0.8)
            left = model == "mobilenetv3_small_100"  # as many MACs as dssdn_small: label on the other side
            ax.annotate(f"{model}\n{r.params / 1e3:.0f}K params", (r.macs, r.median_s * 1e3), fontsize=8,
                        xytext=(-30, 12) if left else (12, 0), textcoords="offset points",
                        ha="right" if left else "left", va="bottom" if left else "center")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("MACs per clip")
        ax.set_ylabel("median latency, ms (1 thread, batch 1)")
        ax.set_title(f"{clip[:-1]}-s clip (1, 256, {44 if clip == '1s' else 431})")
        ax.grid(True, which="both", alpha=0.3)
        ax.margins(0.25)
    fig.suptitle("MACs against median latency; bubble area proportional to parameters. "
                 "Filled: frozen TorchScript; hollow: eager", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: JSON files in, Markdown page and PNG out."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.docs.report", description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="+", help="pytest-benchmark JSON file(s); benchmarks are merged")
    p.add_argument("--alloc", action="append", default=[], metavar="MODE=PATH[,PATH...]",
                   help="model-suite JSON under a malloc setting (first one is the baseline); with several files "
                        "(rounds) each benchmark's lowest median is kept")
    p.add_argument("--out", default="docs/benchmarks.md")
    p.add_argument("--png", default="docs/benchmarks_bubble.png", help="bubble figure ('' for none)")
    args = p.parse_args(argv)
    data = merge([load(j) for j in args.json])
    alloc = {}
    for item in args.alloc:
        mode, _, paths = item.partition("=")
        alloc[mode] = best_of([load(p) for p in paths.split(",")])
    out = Path(args.out)
    png = Path(args.png) if args.png else None
    if png is not None:
        bubble_png(data, png)
    out.write_text(render(data, alloc or None, existing_notes(out),
                          png_name=png.name if png is not None and png.parent == out.parent else
                          (str(png) if png else None)))
    print(f"wrote {out}" + (f" and {png}" if png else ""))
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
