"""Every figure of the docs pages that no other script writes: regenerate them, or check they are current.

A figure lives between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` on its page. Two kinds:

- cheap blocks (MACs, params, memory, parity errors): deterministic, computed in seconds. ``--check`` recomputes
  them and fails naming each stale block; ``tests/test_docs_code.py`` runs the same check. Parity errors are
  float rounding residues and may move a little between machines, so in ``librosa-parity`` each number in
  scientific notation only has to agree within a factor of 2.
- timed blocks (latencies, accuracies of trained baselines): minutes to measure and machine-dependent. They are
  re-measured only on request (``--timed NAME``), and each records its command, date and machine; no test re-times
  them.

::

    python benchmarks/docs_figures.py                     # rewrite every cheap block
    python benchmarks/docs_figures.py --check             # exit 1 if a cheap block is stale
    python benchmarks/docs_figures.py --only stem-costs   # some blocks
    python benchmarks/docs_figures.py --list              # blocks, pages and kinds
    python benchmarks/docs_figures.py --timed allocator   # re-measure a timed block (see --list)

Other generated tables: the budget table (``lightops budget --markdown``, tests/test_cli.py), the mutation table
(``scripts/mutation_check.py --docs``), the tables of docs/benchmarks.md and docs/training.md and the
onnxruntime table of docs/deploy.md (their own scripts).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audio_parity  # noqa: E402
from docs_blocks import write_block  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 116  # prose lines of generated blocks are wrapped to this width, like the hand-written ones
SCI = re.compile(r"\d+(?:\.\d+)?e-?\d+")
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")

__all__ = ["Block", "CHEAP", "TIMED", "render", "current", "stale", "main"]


def wrap(text: str) -> str:
    """Wrap one paragraph of prose to :data:`WIDTH` columns."""
    return "\n".join(textwrap.wrap(text, WIDTH, break_on_hyphens=False, break_long_words=False))


# ---- cheap blocks ----------------------------------------------------------------------------------------------

def ops_reference() -> str:
    """docs/ops.md: params and MACs of SC, OSC and SPC 64 -> 64 on (64, 64, 108), and a dense 3x3 for scale."""
    import torch.nn as nn

    import lightops
    from lightops.profiling import profile

    size = (64, 64, 108)
    lines = ["| op | class | params | MACs |", "|---|---|---:|---:|"]
    for name in ("sc", "osc", "spc"):
        op = lightops.create_op(name, 64, 64)
        lines.append(f"| {name} | `{type(op).__name__}` | {op.params():,} | {op.macs(size):,} |")
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    macs = profile(dense, size, memory=False).total_macs
    params = sum(p.numel() for p in dense.parameters())
    return "\n".join(lines + ["", wrap(f"For comparison, a dense 3x3 convolution 64 -> 64 (no bias) costs {params:,} "
                                      f"params and {macs:,} MACs on the same input.")])


VARIANT_INPUTS = (("dssdn_large", (1, 256, 431)), ("dssdn_middle", (1, 256, 431)), ("dssdn_small", (1, 256, 44)))


def profile_variants() -> str:
    """docs/profiling.md: MACs, params, INT8 parameter memory and measured peak activations of the variants."""
    import torch

    import lightops
    from lightops.profiling import profile

    torch.manual_seed(0)
    lines = ["| model | input | MACs | params | param memory (int8) | peak activations (fp32) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, size in VARIANT_INPUTS:
        p = profile(lightops.create_model(name), size)
        lines.append(f"| {name} | {size} | {p.total_macs:,} | {p.total_params:,} | "
                     f"{p.param_memory.int8_bytes / 1e3:.1f} kB | {p.peak_activation_bytes / 1e6:.1f} MB |")
    return "\n".join(lines)


def _counter_macs(module, x, warm: bool) -> int:
    import torch
    from torch.nn.utils import parametrize
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), parametrize.cached():
        if warm:
            module(x)  # fills the cache of the parametrized weight before counting
        with FlopCounterMode(display=False) as counter:
            module(x)
    return counter.get_total_flops() // 2


def counter_notes() -> str:
    """docs/profiling.md: what the orthogonal map adds to FlopCounterMode, and torchinfo's excess on the models."""
    import torch
    import torch.nn as nn
    import torchinfo

    import lightops

    torch.manual_seed(0)
    size = (64, 64, 108)
    osc = lightops.OSC(64, 64, orthogonal="exact").eval()
    x = torch.randn(1, *size)
    extra = _counter_macs(osc, x, warm=False) - _counter_macs(osc, x, warm=True)
    if _counter_macs(osc, x, warm=True) != osc.macs(size):
        raise RuntimeError("FlopCounterMode disagrees with OSC's formula with the parametrization cached")
    parts = []
    for name, _ in VARIANT_INPUTS:
        model = lightops.create_model(name).eval()
        if any(nn.utils.parametrize.is_parametrized(m) for m in model.modules()):
            continue
        excess = torchinfo.summary(model, input_size=(1, 1, 256, 44), verbose=0).total_mult_adds - model.macs(
            (1, 256, 44))
        norms = sum(2 * m.num_features for m in model.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine)
        biases = [m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
                  and m.bias is not None]
        if biases != [model.get_classifier()] or excess != norms + model.num_classes:
            raise RuntimeError(f"{name}: torchinfo's excess {excess:,} is not 2 C per norm plus the classifier bias")
        parts.append(f"`+ {excess:,}` for {name}")
    return "\n\n".join([
        wrap(f"Uncached, `FlopCounterMode` also counts the orthogonal map: `+ {extra:,}` MACs for an exact OSC "
             f"64 -> 64 on {size} (its `macs` formula and the cached count give {osc.macs(size):,})."),
        wrap(f"On the models, torchinfo's excess is exactly the BatchNorm and bias terms: {', '.join(parts)} at batch "
             "1 on a 1-s clip (`2 C` for each BatchNorm, `+ 10` for the classifier bias; the excess does not depend on "
             "the clip length).")])


STEM_WHAT = {
    "conv": "full-band 3x3 convolution, stride `s` (the reference)",
    "highlow": "3x3 stride-`s` conv on the low band; the high band average-pooled `s x s` then a 1x1 conv (1/9 of "
               "the cost per output bin); stacked on frequency, low first",
    "cut": "keep only the lowest `ceil(keep * F)` bins, then the 3x3 conv",
}


def stem_costs() -> str:
    """docs/concepts/frequency-splitting.md: output and MACs of each stem on a 1-s clip, 24 channels, stride 2."""
    from lightops.stems import create_stem

    size = (1, 256, 44)
    lines = ["| kind | what it does | output | MACs |", "|---|---|---|---:|"]
    for kind, what in STEM_WHAT.items():
        stem = create_stem(kind, 1, 24)
        lines.append(f"| `\"{kind}\"` | {what} | `{tuple(stem.output_size(size))}` | {stem.macs(size):,} |")
    return "\n".join(lines)


def low_band_edge() -> str:
    """docs/concepts/frequency-splitting.md: where the low half of the default mel bins ends, in Hz."""
    import numpy as np

    import lightops
    from lightops.audio import hz_to_mel, mel_to_hz

    cfg = lightops.create_model("dssdn_small").pretrained_cfg
    sr, n_mels = cfg["sample_rate"], cfg["n_mels"]
    pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))  # edges and centres of the bands
    half = n_mels // 2
    return wrap(f"With {n_mels} Slaney mel bins at {sr / 1000:g} kHz the low half of the bins (the first {half}) "
                f"has its last band centred at {pts[half] / 1000:.2f} kHz and ending at {pts[half + 1] / 1000:.2f} "
                f"kHz, so block 1's operators run on 0-{pts[half + 1] / 1000:.1f} kHz.")


def budget_check() -> str:
    """docs/guides/budgets.md: what the check prints for DSSDN-Small, and what fitting it to the DCASE limits gives."""
    import lightops
    from lightops.profiling import BUDGETS, check_budget, fit_budget

    check = check_budget(lightops.create_model("dssdn_small"), BUDGETS["dssdn_small"])
    fit = fit_budget("dssdn_small")
    c = fit.check
    return "\n".join([
        "`print(check)` gives", "", "```", str(check), "```", "",
        wrap(f"and `fit_budget(\"dssdn_small\")` returns width {fit.width:.3f}: {c.params:,} params "
             f"({100 * c.params / c.budget.max_params:.1f} % of {c.budget.max_params:,}) and {c.macs:,} MACs "
             f"({100 * c.macs / c.budget.max_macs:.1f} % of {c.budget.max_macs:,}) on a 1-s clip: DSSDN-Small "
             f"{'has headroom' if fit.width > 1 else 'is at its limit'}, and the "
             f"{'parameter' if c.params / c.budget.max_params > c.macs / c.budget.max_macs else 'MAC'} limit binds "
             "first.")])


def budget_shares() -> str:
    """docs/models.md: the share of its budget each variant uses."""
    import lightops
    from lightops.profiling import BUDGETS, check_budget

    parts = []
    for name in lightops.list_models():
        c = check_budget(lightops.create_model(name), BUDGETS[name])
        parts.append(f"{name} {100 * c.params / c.budget.max_params:.1f} % of its parameters and "
                     f"{100 * c.macs / c.budget.max_macs:.1f} % of its MACs")
    return wrap("Shares of the budgets (written by `python benchmarks/docs_figures.py`; a test checks them): "
                + "; ".join(parts) + ".")


def fused_macs() -> str:
    """docs/deploy.md: MACs and params of each model as built and after ``fuse`` (merged depthwise pairs)."""
    import lightops
    from lightops.deploy.fuse import fuse, inference_params
    from lightops.profiling import profile

    def macs(model, size) -> int:
        return profile(model, size, device="meta", memory=False).total_macs

    def pct(a: int, b: int) -> str:
        return f"{100 * (b - a) / a:+.1f} %"

    rows = ["| model | MACs 1-s, original -> fused | MACs 10-s, original -> fused | params -> inference params |",
            "|---|---:|---:|---:|"]
    for name in lightops.list_models():
        model = lightops.create_model(name).eval()
        fused = fuse(model, time_pool=False)
        m1, f1 = model.macs((1, 256, 44)), macs(fused, (1, 256, 44))
        m10, f10 = model.macs((1, 256, 431)), macs(fused, (1, 256, 431))
        params = sum(p.numel() for p in model.parameters())
        rows.append(f"| {name} | {m1:,} -> {f1:,} ({pct(m1, f1)}) | {m10:,} -> {f10:,} ({pct(m10, f10)}) | "
                    f"{params:,} -> {inference_params(fused):,} |")
        if name == "dssdn_middle":
            merged = fuse(model, time_pool=False, merge_pointwise=True)
            g1, g10 = macs(merged, (1, 256, 44)), macs(merged, (1, 256, 431))
            rows.append(f"| dssdn_middle, `merge_pointwise=True` | -> {g1:,} ({pct(m1, g1)}) | -> {g10:,} "
                        f"({pct(m10, g10)}) | |")
    return "\n".join(rows)


# ---- timed blocks ----------------------------------------------------------------------------------------------

def _header(command: str, note: str) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return wrap(f"`{command}` ({time.strftime('%Y-%m-%d')}; {audio_parity.machine()}; load average {load:.1f} at "
                f"the end; {note}):")


def allocator_block(command: str) -> str:
    """docs/profiling.md: run benchmarks/allocator.py (every case, 2 rounds) and render its measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "allocator.json"
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "allocator.py"), "--json", str(out)], check=True,
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
    """docs/audio.md: the difficulty of SyntheticScenes with benchmarks/synthetic_difficulty.py's two baselines."""
    import synthetic_difficulty as sd
    import torch

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
    import synthetic_difficulty as sd
    import torch

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


# ---- the registry ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A generated block: its page (relative to the repository), how to render it, and how exactly it must match."""

    page: str
    render: Callable[[], str]
    tolerant: bool = False  # numbers in scientific notation need only agree within a factor of 2


CHEAP: Dict[str, Block] = {
    "ops-reference": Block("docs/ops.md", ops_reference),
    "profile-variants": Block("docs/profiling.md", profile_variants),
    "counter-notes": Block("docs/profiling.md", counter_notes),
    "stem-costs": Block("docs/concepts/frequency-splitting.md", stem_costs),
    "low-band-edge": Block("docs/concepts/frequency-splitting.md", low_band_edge),
    "budget-check": Block("docs/guides/budgets.md", budget_check),
    "budget-shares": Block("docs/models.md", budget_shares),
    "fused-macs": Block("docs/deploy.md", fused_macs),
    "librosa-parity": Block("docs/audio.md", audio_parity.parity_block, tolerant=True),
}
TIMED: Dict[str, Tuple[str, Callable[[str], str]]] = {
    "allocator": ("docs/profiling.md", allocator_block),
    "synthetic-difficulty": ("docs/audio.md", synthetic_block),
    "logmel-timing": ("docs/audio.md", audio_parity.timing_block),
}


def render(name: str) -> str:
    """The text the cheap block ``name`` should hold now."""
    return CHEAP[name].render().strip()


def current(page: str, name: str) -> str:
    """The text between the markers of ``name`` on ``page`` (a path relative to the repository)."""
    text = (ROOT / page).read_text()
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin not in text or end not in text:
        raise KeyError(f"{page}: markers {begin} / {end} not found")
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def _same(doc: str, fresh: str, tolerant: bool) -> bool:
    if not tolerant:
        return doc == fresh
    if SCI.sub("#", doc) != SCI.sub("#", fresh):
        return False
    for a, b in zip(SCI.findall(doc), SCI.findall(fresh)):
        x, y = float(a), float(b)
        if (x == 0) != (y == 0) or (x and abs(math.log2(x / y)) > 1):
            return False
    return True


def stale(name: str) -> Optional[str]:
    """None if the cheap block ``name`` is current; otherwise what differs, for an error message."""
    block = CHEAP[name]
    fresh = render(name)
    try:
        doc = current(block.page, name)
    except KeyError as e:
        return str(e)
    if _same(doc, fresh, block.tolerant):
        return None
    return (f"{block.page}: block '{name}' is stale; regenerate with `python benchmarks/docs_figures.py --only "
            f"{name}`\n--- in the page:\n{doc}\n--- now:\n{fresh}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Rewrite (or ``--check``) the cheap blocks; ``--timed NAME`` re-measures a timed block."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="check the cheap blocks, write nothing; exit 1 if stale")
    p.add_argument("--only", nargs="+", choices=sorted(CHEAP), default=None, help="these cheap blocks only")
    p.add_argument("--timed", nargs="+", choices=sorted(TIMED), default=None, help="re-measure these timed blocks")
    p.add_argument("--list", action="store_true", help="list the blocks")
    args = p.parse_args(argv)
    if args.list:
        for name, block in CHEAP.items():
            print(f"{name:<22} {block.page:<40} cheap{' (factor 2 on errors)' if block.tolerant else ''}")
        for name, (page, _) in TIMED.items():
            print(f"{name:<22} {page:<40} timed: python benchmarks/docs_figures.py --timed {name}")
        return 0
    if args.timed:
        for name in args.timed:
            page, fn = TIMED[name]
            text = fn(f"python benchmarks/docs_figures.py --timed {name}")
            write_block(str(ROOT / page), name, text)
            print(f"{page}: {name}\n{text}\n", flush=True)
        return 0
    failed = 0
    for name in args.only or list(CHEAP):
        if args.check:
            problem = stale(name)
            failed += problem is not None
            print(problem or f"{name}: current", flush=True)
        else:
            write_block(str(ROOT / CHEAP[name].page), name, render(name))
            print(f"{CHEAP[name].page}: {name} written", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
