"""The timed blocks of the docs: latencies and trained baselines, minutes to measure and machine-dependent.

Each function takes the command that runs it (recorded in the block with the date and machine) and returns the
block's body; ``python -m benchmarks.docs --timed NAME`` re-measures one. No test re-times them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchmarks.common import ROOT, machine
from benchmarks.docs.blocks import wrap

__all__ = ["allocator_block", "synthetic_block"]


def _header(command: str, note: str) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return wrap(f"`{command}` ({time.strftime('%Y-%m-%d')}; {machine()}; load average {load:.1f} at "
                f"the end; {note}):")


def allocator_block(command: str) -> str:
    """docs/profiling.md: run benchmarks.allocator (every case, 2 rounds) and render its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "allocator.json"
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        subprocess.run([sys.executable, "-m", "benchmarks.allocator", "--json", str(out)], check=True, cwd=ROOT,
                       env=env, stdout=subprocess.DEVNULL)
        data = json.loads(out.read_text())
    medians: Dict[Tuple[str, str], List[float]] = {}
    faults: Dict[Tuple[str, str], float] = {}
    cases: List[str] = []
    for run in data["runs"]:
        for r in run["results"]:
            key = (run["variant"], r["case"])
            medians.setdefault(key, []).append(r["median_ms"])
            if r["median_ms"] == min(medians[key]):
                faults[key] = r["faults_per_call"]
            if r["case"] not in cases:
                cases.append(r["case"])
    rounds = len(data["runs"]) // 3
    best = {k: min(v) for k, v in medians.items()}
    lines = ["| case | default ms | faults/call | `configure_malloc` ms | faults/call | speed-up | env vars ms | "
             "speed-up |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        d, m, e = best[("default", case)], best[("mallopt", case)], best[("env", case)]
        lines.append(f"| {case} | {d:.2f} | {faults[('default', case)]:,.0f} | {m:.2f} | "
                     f"{faults[('mallopt', case)]:,.0f} | {d / m:.2f}x | {e:.2f} | {d / e:.2f}x |")
    faulting = [c for c in cases if faults[("default", c)] >= 1000]
    quiet = [c for c in cases if faults[("default", c)] < 10]

    def span(selected: List[str]) -> str:
        ups = [best[("default", c)] / best[("mallopt", c)] for c in selected]
        return f"{min(ups):.2f}-{max(ups):.2f}x" if ups else "-"

    def spread(variant: str) -> Tuple[float, str]:
        return max(((max(medians[(variant, c)]) / min(medians[(variant, c)]), c) for c in cases), default=(1.0, ""))

    d_spread, d_case = spread("default")
    m_spread, _ = spread("mallopt")
    agree = max(abs(best[("mallopt", c)] / best[("env", c)] - 1) for c in cases)
    summary = (f"Cases where the default allocator faults 1,000 times per call or more ({len(faulting)} of "
               f"{len(cases)}): `configure_malloc` speed-up {span(faulting)}; cases with fewer than 10 faults per call "
               f"({len(quiet)}): {span(quiet)}. Round-to-round spread of a case's median: up to "
               f"{100 * (d_spread - 1):.0f} % with the default allocator ({d_case}: "
               f"{', '.join(f'{v:.2f}' for v in medians[('default', d_case)])} ms), up to {100 * (m_spread - 1):.0f} % "
               f"with `configure_malloc`. Run-time `mallopt` and the environment variables differ by at most "
               f"{100 * agree:.0f} % per case.")
    return "\n".join([_header(command, f"1 thread, batch 1, lowest median of {rounds} rounds, variants alternating, "
                                       "each in a fresh interpreter; faults are minor page faults per forward pass"),
                      "", *lines, "", wrap(summary)])


SYNTHETIC_SETTINGS: Tuple[Tuple[str, Dict[str, float]], ...] = (
    ("defaults (`class_overlap=0.1`, `device_strength=0.75`)", {}),
    ("`device_strength=0` (all devices flat)", {"device_strength": 0.0}),
    ("`class_overlap=0`", {"class_overlap": 0.0}),
    ("`class_overlap=0`, `device_strength=0.5`", {"class_overlap": 0.0, "device_strength": 0.5}),
    ("`class_overlap=0.3`, `device_strength=1`", {"class_overlap": 0.3, "device_strength": 1.0}),
)
SYNTHETIC_PAIRS = (("metro", "tram"), ("tram", "metro"), ("street_pedestrian", "public_square"),
                   ("bus", "street_traffic"))


def _generation_ms(**kw) -> float:
    from lightops.data import SyntheticScenes

    ds = SyntheticScenes("train", num_clips=50, **kw)
    ds.generate(0)
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds.generate(i)
    return 1000 * (time.perf_counter() - t0) / len(ds)


def synthetic_block(command: str, train_clips: int = 2000, eval_clips: int = 1000, epochs: int = 20) -> str:
    """docs/audio.md: the difficulty of SyntheticScenes with benchmarks.synthetic_difficulty's two baselines."""
    import torch

    from benchmarks import synthetic_difficulty as sd
    from lightops.audio import LogMel
    from lightops.data import SyntheticScenes

    torch.set_num_threads(1)
    rows, knob_rows, notes = [], [], {}
    for label, knobs in SYNTHETIC_SETTINGS:
        ds_tr = SyntheticScenes("train", num_clips=train_clips, seed=0, **knobs)
        ds_ev = SyntheticScenes("evaluate", num_clips=eval_clips, seed=0, **knobs)
        seen = set(ds_tr.devices)
        t0 = time.perf_counter()
        train, evaluate = sd.features(ds_tr, LogMel()), sd.features(ds_ev, LogMel())
        feat_s = time.perf_counter() - t0
        lin = sd.linear_baseline(train, evaluate, ds_tr.num_classes, seen)
        knob_rows.append(f"| {label} | {lin['evaluate']:.1f} % | {lin['evaluate_seen']:.1f} % | "
                         f"{lin['evaluate_unseen']:.1f} % |")
        if knobs:
            continue
        confusion = _linear_confusion(train, evaluate, ds_tr.num_classes)
        t0 = time.perf_counter()
        cnn = sd.cnn_baseline(train, evaluate, ds_tr.num_classes, seen, epochs)
        notes.update(feat_s=feat_s, cnn_s=time.perf_counter() - t0, lin=lin, cnn=cnn, classes=ds_tr.classes,
                     confusion=confusion)
        for name, r in (("logistic regression on the mean log-mel", lin), ("tiny CNN on the log-mel", cnn)):
            rows.append(f"| {name} | {r['train']:.1f} % | {r['evaluate']:.1f} % | {r['evaluate_seen']:.1f} % | "
                        f"{r['evaluate_unseen']:.1f} % |")
    conf, classes = notes["confusion"], notes["classes"]

    def called(true: str, pred: str) -> str:
        i, j = classes.index(true), classes.index(pred)
        return f"{true} is called {pred} in {100 * conf[i][j] / sum(conf[i]):.0f} % of its clips"

    lin, cnn = notes["lin"], notes["cnn"]
    gen = {k: _generation_ms(**kw) for k, kw in (("1 s, 44.1 kHz", {}), ("1 s, 16 kHz", {"sample_rate": 16000}),
                                                 ("10 s, 44.1 kHz", {"clip_seconds": 10.0}))}
    text = [
        _header(command, f"seed 0, {train_clips} training and {eval_clips} evaluation clips of 1 s at 44.1 kHz, "
                         f"default `LogMel`, CNN {epochs} epochs, one thread"), "",
        "| model | train | evaluate | evaluate, seen devices | evaluate, unseen devices |",
        "|---|---:|---:|---:|---:|", *rows, "",
        wrap(f"Chance is 10 %. Per class, the logistic regression confuses the pairs built to share their spectra: "
             f"{'; '.join(called(a, b) for a, b in SYNTHETIC_PAIRS)}. Unseen devices cost the linear baseline "
             f"{lin['evaluate_seen'] - lin['evaluate_unseen']:.1f} points and the CNN "
             f"{cnn['evaluate_seen'] - cnn['evaluate_unseen']:.1f} (seen minus unseen). The log-mel of the "
             f"{train_clips + eval_clips} clips took {notes['feat_s']:.0f} s and the CNN {notes['cnn_s']:.0f} s."),
        "", "The knobs move the linear baseline (evaluate accuracy, seen / unseen devices, same protocol):", "",
        "| setting | evaluate | seen | unseen |", "|---|---:|---:|---:|", *knob_rows, "",
        wrap("Generation (numpy, one thread, mean of 50 clips): "
             + ", ".join(f"{ms:.1f} ms per clip of {k}" for k, ms in gen.items()) + "."),
    ]
    return "\n".join(text)


def _linear_confusion(train: Tuple, evaluate: Tuple, num_classes: int) -> List[List[int]]:
    """Confusion matrix (rows: true class) of synthetic_difficulty's logistic regression on the evaluate split."""
    import torch

    from benchmarks import synthetic_difficulty as sd

    x_tr, y_tr, _ = train
    x_ev, y_ev, _ = evaluate
    f_tr, f_ev = x_tr.mean(dim=3).flatten(1), x_ev.mean(dim=3).flatten(1)  # (N, n_mels), as linear_baseline does
    mu, sd_ = f_tr.mean(0), f_tr.std(0) + 1e-6
    model = sd.logistic_regression((f_tr - mu) / sd_, y_tr, num_classes, 1e-2)
    with torch.no_grad():
        pred = model((f_ev - mu) / sd_).argmax(1)
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    conf.index_put_((y_ev, pred), torch.ones_like(y_ev), accumulate=True)
    return conf.tolist()
