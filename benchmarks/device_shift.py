"""Where a trained model's features move with the recording device, layer by layer, on parallel recordings.

TAU Urban Acoustic Scenes 2020 Mobile records the same segments with several devices at once: files
``<scene>-<city>-<location>-<segment>-<device>.wav`` that differ only in the device. ``benchmarks.make_scene_set``
writes its folders the same way. For each checkpoint and each tap, this command compares every device ``d`` with a
reference device (``a`` by default) on the segments both recorded. The taps are the stem, each stage or block that
the model's timm ``feature_info`` names, the pooled embedding the classifier reads, and the logits:

    shift(d, tap) = mean_s |f(x_s,d) - f(x_s,ref)|^2  /  mean_{s != s'} |f(x_s,ref) - f(x_s',ref)|^2

Here ``f`` is the tap's output averaged over time: ``C x F`` values, which keep the frequency axis a device acts on.
A shift of 0 means the device changes nothing at that tap. A shift of 1 means the device moves a segment as far as
the distance between two different segments on the reference device. The denominator is twice the total variance
of the reference device's features (``2 n / (n - 1) * trace(cov)``), so no pairs are formed. The command also reports
the agreement: the share of segments whose predicted class on device ``d`` equals that on the reference device.

Checkpoints of the same model, options and ``--recipe`` (seeds) are averaged, with mean ± standard deviation over
them. ::

    python -m benchmarks.device_shift RUNS/*/seed*/last.pt --data /work/data/easy4 --no-docs
    python -m benchmarks.device_shift --from-json benchmarks/results/device-shift.json   # re-render the block

The numbers locate the layer where a model lets a device in. Accuracy per device (``lightops eval``) says how much
it costs.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset

from benchmarks.common import ROOT
from benchmarks.compare import report
from benchmarks.compare_table import spread
from lightops._factory import model_label
from lightops.data.tau import parse_segment

__all__ = ["pair_segments", "taps_of", "collect", "shifts", "measure", "markdown", "main"]


def pair_segments(files: Sequence[str], devices: Sequence[str], reference: str) -> Dict[str, List[Tuple[int, int]]]:
    """``{device: [(index of the reference recording, index of this device's recording), ...]}`` over the
    segments that both recorded (indices into ``files``); devices without a shared segment are left out."""
    by_segment: Dict[str, Dict[str, int]] = defaultdict(dict)
    for i, (f, d) in enumerate(zip(files, devices)):
        by_segment[parse_segment(f)][d] = i
    pairs: Dict[str, List[Tuple[int, int]]] = defaultdict(list)
    for recs in by_segment.values():
        if reference in recs:
            for d, i in recs.items():
                if d != reference:
                    pairs[d].append((recs[reference], i))
    return dict(sorted(pairs.items()))


def taps_of(model: nn.Module) -> List[str]:
    """Module names to tap: ``stem`` where the model has one, then the modules of its timm ``feature_info``."""
    names = ["stem"] if isinstance(getattr(model, "stem", None), nn.Module) else []
    for info in getattr(model, "feature_info", None) or []:
        module = info.get("module") if isinstance(info, dict) else None
        if module and module not in names:
            names.append(module)
    return names


@torch.no_grad()
def collect(model: nn.Module, frontend: nn.Module, loader: DataLoader) -> Dict[str, torch.Tensor]:
    """Every tap's output averaged over time and flattened (``(N, C * F)``), the pooled embedding
    (``pre_logits``) and the logits, for all clips of ``loader`` in order."""
    modules = dict(model.named_modules())
    names = taps_of(model)
    outputs: Dict[str, List[torch.Tensor]] = defaultdict(list)
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: outputs[n].append(out.float().mean(dim=-1).flatten(1))) for n in names]
    try:
        for batch in loader:
            feats = model.forward_features(frontend(batch[0]))
            outputs["pre_logits"].append(model.forward_head(feats, pre_logits=True).float().flatten(1))
            outputs["logits"].append(model.forward_head(feats).float())
    finally:
        for h in hooks:
            h.remove()
    return {k: torch.cat(v) for k, v in outputs.items()}


def shifts(features: Dict[str, torch.Tensor], pairs: Dict[str, List[Tuple[int, int]]]) -> Dict[str, Any]:
    """``{"shift": {tap: {device: value}}, "agreement": {device: share}}`` (the formulas in the module docstring)."""
    ref_idx = sorted({r for p in pairs.values() for r, _ in p})
    if len(ref_idx) < 2:
        raise ValueError(f"device_shift: needs at least 2 segments recorded by the reference device, got "
                         f"{len(ref_idx)}")
    index = {d: (torch.tensor([r for r, _ in p]), torch.tensor([i for _, i in p])) for d, p in pairs.items()}
    out: Dict[str, Any] = {"shift": {}, "agreement": {}}
    for tap, f in features.items():
        ref = f[ref_idx].double()
        n = ref.shape[0]
        between = 2.0 * n / (n - 1) * ref.var(dim=0, unbiased=False).sum().item()  # mean over pairs s != s'
        out["shift"][tap] = {}
        for d, (a, b) in index.items():
            moved = (f[b].double() - f[a].double()).pow(2).sum(dim=1).mean().item()
            out["shift"][tap][d] = moved / between if between > 0 else float("nan")
    pred = features["logits"].argmax(dim=1)
    for d, (a, b) in index.items():
        out["agreement"][d] = (pred[a] == pred[b]).double().mean().item()
    return out


def _label(loaded: Any, ckpt: Dict[str, Any]) -> str:
    """``name``, ``name[key=value,...]`` (the compare syntax of the checkpoint's model, ``num_classes`` left out),
    followed by ``(recipe R)`` for a ``lightops train --recipe R`` run other than the default."""
    label = model_label(str(loaded.name), dict(sorted(dict(ckpt.get("model_kwargs") or {}).items())))
    recipe = (ckpt.get("args") or {}).get("recipe") or "default"
    return label if recipe == "default" else f"{label} (recipe {recipe})"


def measure(checkpoint: str, data: str, *, reference: str = "a", split: str = "evaluate", batch_size: int = 64,
            max_segments: Optional[int] = None) -> Dict[str, Any]:
    """The shifts and agreements of one checkpoint on the parallel recordings of the TAU-layout folder ``data``."""
    from lightops._factory import build_frontend
    from lightops.checkpoint import load_model, read_checkpoint
    from lightops.data.tau import TAUUrbanAcousticScenes2020Mobile

    ckpt = read_checkpoint(checkpoint)
    loaded = load_model(ckpt)
    frontend = build_frontend(loaded.frontend, loaded.model)
    data_set = TAUUrbanAcousticScenes2020Mobile(data, split=split, clip_seconds=loaded.clip_seconds or 10.0,
                                                sample_rate=frontend.logmel.sample_rate)
    files = [path for path, _, _ in data_set.samples]
    devices = [device for _, _, device in data_set.samples]
    pairs = pair_segments(files, devices, reference)
    if not pairs:
        raise ValueError(f"device_shift: no segment of {data!r} ({split}) is recorded by the reference device "
                         f"{reference!r} and another device; devices found: {sorted(set(devices))}")
    if max_segments:
        refs = sorted({r for p in pairs.values() for r, _ in p})[:max_segments]
        keep = set(refs)
        pairs = {d: [(r, i) for r, i in p if r in keep] for d, p in pairs.items()}
    used = sorted({i for p in pairs.values() for pair in p for i in pair})
    index = {i: k for k, i in enumerate(used)}
    pairs = {d: [(index[r], index[i]) for r, i in p] for d, p in pairs.items()}
    loader = DataLoader(Subset(data_set, used), batch_size=batch_size, shuffle=False)
    model = loaded.model.eval()
    result = shifts(collect(model, frontend, loader), pairs)
    return dict(checkpoint=checkpoint, model=_label(loaded, ckpt), segments=len({r for p in pairs.values()
                                                                                 for r, _ in p}), **result)


def build_parser() -> argparse.ArgumentParser:
    """The command line (the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.device_shift", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="*", help="last.pt files (seeds of one model are averaged)")
    p.add_argument("--data", default=None, help="TAU-layout folder with parallel recordings")
    p.add_argument("--reference", default="a", help="reference device (default a)")
    p.add_argument("--split", default="evaluate", choices=("train", "evaluate", "all"), help="list of the folder")
    p.add_argument("--max-segments", type=int, default=None, help="at most this many reference segments")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--json", default=None, help="results file (default benchmarks/results/BLOCK.json)")
    p.add_argument("--docs", default=str(ROOT / "docs" / "models.md"), help="page of the block")
    p.add_argument("--block", default=None, help="name of the block in --docs (default device-shift)")
    p.add_argument("--no-docs", action="store_true", help="do not write the docs block")
    p.add_argument("--from-json", default=None, help="re-render the block of an earlier results file")
    return p


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Measure every checkpoint; the results of the JSON file."""
    if not args.checkpoints or not args.data:
        raise SystemExit("device_shift: give checkpoints and --data (or --from-json)")
    missing = [c for c in args.checkpoints if not os.path.isfile(c)]
    if missing:
        raise SystemExit(f"device_shift: checkpoints not found: {missing}")
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [measure(c, args.data, reference=args.reference, split=args.split, max_segments=args.max_segments)
            for c in args.checkpoints]
    argv = " ".join(args.argv)
    return dict(runs=runs, reference=args.reference, data=args.data, split=args.split,
                command=f"python -m benchmarks.device_shift {argv}", date=time.strftime("%Y-%m-%d"),
                machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")


def _cell(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    s = spread([v * scale for v in values])
    if s is None:
        return "n/a"
    return f"{s['mean']:.{digits}f}" + (f" ± {s['std']:.{digits}f}" if s["n"] > 1 else "")


def markdown(results: Dict[str, Any]) -> str:
    """One table per model: taps x devices (shift), then the agreement row (%)."""
    groups: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for r in results["runs"]:
        groups[r["model"]].append(r)
    lines = [f"Shift of each tap against device `{results['reference']}` on the same segments (0: unchanged, 1: as far "
             f"as another segment), mean ± standard deviation over checkpoints; the last row is the share of segments "
             f"whose prediction equals the reference device's (%). Data: `{results['data']}` ({results['split']}).",
             "", f"Command: `{results['command']}` ({results['date']}, {results['machine']}).", ""]
    for model, runs in groups.items():
        devices = sorted({d for r in runs for d in r["agreement"]}, key=_device_key)
        taps = list(runs[0]["shift"])
        lines += [f"`{model}` ({len(runs)} checkpoint(s), {runs[0]['segments']} segments):", "",
                  "| tap | " + " | ".join(devices) + " |", "|---|" + "---:|" * len(devices)]
        for tap in taps:
            lines.append(f"| {tap} | " + " | ".join(_cell([r["shift"][tap][d] for r in runs if d in r["shift"][tap]])
                                                     for d in devices) + " |")
        lines.append("| agreement % | " + " | ".join(_cell([r["agreement"][d] for r in runs if d in r["agreement"]],
                                                           100.0, 1) for d in devices) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _device_key(d: str) -> Tuple[int, str]:
    """a, b, c before s1, s2, ... (numbers in order)."""
    digits = "".join(ch for ch in d if ch.isdigit())
    return (1, f"{int(digits):04d}") if d.startswith("s") and digits else (0, d)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure (or re-render) the shifts; print the tables; write the JSON and the docs block."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return report(args, run, markdown, "device-shift")


if __name__ == "__main__":
    sys.exit(main())
