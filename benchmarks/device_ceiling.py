"""How much of the seen-to-unseen drop is the devices' own difficulty: the same models trained once with the unseen
devices held out and once with every device in training, on the same evaluation clips.

A drop (seen-device accuracy minus unseen-device accuracy) mixes two things: how much harder the unseen devices'
recordings are to classify at all (noisier, more strongly coloured), and how much a model loses because it never heard
those devices. This command separates them. It writes two scene sets in the TAU layout from the synthetic scenes
(:func:`lightops.data.make_fake_tau`, one device family, the same seed, so their evaluation folds hold the very same
clips):

- ``held-out``: the seen devices in training, the unseen ones only in the evaluation fold (as s4-s6 in TAU);
- ``all``: every device in training; each training segment keeps as many devices as the held-out set records, in a
  rotation over the devices, so both training folds hold the same number of clips per class.

Then it trains the models and recipes on both (:mod:`benchmarks.compare`, one ``lightops train`` run each) and
reports, per model and recipe, the accuracy on the two device groups and their gap for each training set. The gap of
the ``all`` runs is the part of the drop that no device-robustness recipe can remove (the devices' own difficulty);
the difference between the two gaps is the part that comes from not having heard the devices (generalisation). ::

    python -m benchmarks.device_ceiling --root /tmp/ceiling --seeds 0 1 2 --jobs 2 --block device-ceiling-tau
    python -m benchmarks.device_ceiling --root /tmp/ceiling --scene-family eq --seeds 0 1 2 --jobs 2 \\
        --block device-ceiling-eq
    python -m benchmarks.device_ceiling --from-json benchmarks/results/device-ceiling-tau.json   # re-render the block

Defaults: ``dssdn_small`` and ``dcase2025_baseline`` with ``recipe dcase``, 30 epochs, 1-s clips, 28 segments per
class (840 training clips in both sets), the block on docs/models.md.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.compare import build_parser, report
from benchmarks.compare import run as compare_run
from benchmarks.compare_table import code_line, spread
from lightops.data import make_fake_tau
from lightops.data.synthetic_devices import DEVICE_FAMILIES
from lightops.data.tau import parse_device, parse_segment

__all__ = ["TRAININGS", "write_scene_sets", "rotate_training_devices", "group_gap", "run", "markdown",
           "build_ceiling_parser", "main"]

TRAININGS = ("held-out", "all")
"""The two training sets: the unseen devices held out of training, and every device in training."""


def rotate_training_devices(root: Path, devices: Sequence[str], keep: int) -> int:
    """Rewrite ``root``'s ``fold1_train.csv`` so that each training segment keeps ``keep`` of its ``devices``: the
    ``k``-th segment of the file keeps device ``i`` when ``(k + i) % len(devices) < keep``, so every class keeps
    ``keep`` clips per segment and every device about the same share of the segments. Returns the number of
    training clips kept."""
    path = root / "evaluation_setup" / "fold1_train.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    order: Dict[str, int] = {}  # recording (parse_segment) -> position in the file
    kept = [header]
    for row in rows:
        name = row.split("\t")[0]
        k = order.setdefault(parse_segment(name), len(order))
        if (k + devices.index(parse_device(name))) % len(devices) < keep:
            kept.append(row)
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return len(kept) - 1


def write_scene_sets(args: argparse.Namespace) -> Dict[str, Path]:
    """The two scene sets under ``args.root`` (written once; a ``scene_set.json`` records their settings and a set
    with other settings is written again)."""
    seen, unseen = list(args.seen_devices), list(args.unseen_devices)
    if not unseen:
        raise SystemExit("device_ceiling: give at least one unseen device")
    settings = dict(segments=args.segments, seen=seen, unseen=unseen, family=args.scene_family, seed=args.scene_seed,
                    clip_seconds=args.clip_seconds or 1.0, sample_rate=args.sample_rate or 44100, version=1)
    folders = {}
    for training in TRAININGS:
        root = Path(args.root) / f"{args.scene_family}-{training}"
        stamp = root / "scene_set.json"
        if not (stamp.is_file() and json.loads(stamp.read_text()) == settings):
            devices, eval_only = (seen, unseen) if training == "held-out" else (seen + unseen, [])
            make_fake_tau(root, n_per_class=args.segments, devices=devices, eval_only_devices=eval_only,
                          clip_seconds=settings["clip_seconds"], sample_rate=settings["sample_rate"],
                          seed=args.scene_seed, device_family=args.scene_family)
            if training == "all":
                rotate_training_devices(root, devices, keep=len(seen))
            stamp.write_text(json.dumps(settings) + "\n")
        folders[training] = root
    return folders


def group_gap(per_device: Dict[str, float], unseen: Sequence[str]) -> Tuple[float, float, float]:
    """(mean accuracy over the devices not in ``unseen``, mean over ``unseen``, their difference)."""
    first = [v for d, v in per_device.items() if d not in unseen]
    second = [per_device[d] for d in unseen]
    a, b = sum(first) / len(first), sum(second) / len(second)
    return a, b, a - b


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Write the scene sets, train (or reuse) every run on both; the results dict."""
    folders = write_scene_sets(args)
    rows: List[Dict[str, Any]] = []
    for training, folder in folders.items():
        args.data = str(folder)
        results = compare_run(args)
        for r in results["rows"]:
            a, b, gap = group_gap(r["per_device"], args.unseen_devices)
            rows.append(dict(r, training=training, first_group=a, second_group=b, gap=gap))
    return dict(rows=rows, unseen_devices=list(args.unseen_devices), family=args.scene_family,
                command=shlex.join(["python", "-m", "benchmarks.device_ceiling", *args.argv]), date=results["date"],
                machine=results["machine"])


def _cell(values: Sequence[Optional[float]]) -> str:
    s = spread([None if v is None else 100.0 * v for v in values])
    if s is None:
        return "n/a"
    return f"{s['mean']:.1f}" + (f" ± {s['std']:.1f}" if s["n"] > 1 else "")


def _mean(rows: Sequence[Dict[str, Any]], key: str) -> float:
    return 100.0 * sum(r[key] for r in rows) / len(rows)


def markdown(results: Dict[str, Any]) -> str:
    """One row per (model, recipe, training set): overall accuracy, the two device groups, their gap and each
    unseen device; then, per model and recipe, the drop split into the gap that remains with every device in
    training (the devices' own difficulty) and the rest (from not having heard them)."""
    unseen = results["unseen_devices"]
    groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = defaultdict(list)
    for r in results["rows"]:
        groups[(r["model"], r["recipe"], r["training"])].append(r)
    first = results["rows"][0]["settings"]
    label = {"held-out": f"{', '.join(unseen)} held out", "all": "every device"}
    lines = [f"Device family `{results['family']}`; {first['train_clips']} training clips in both training sets, the "
             f"same {first['eval_clips']} evaluation clips; {first['epochs']} epochs; mean ± standard deviation over "
             f"seeds. `other devices`: the devices that are seen in the held-out training set; `gap`: their accuracy "
             f"minus that of {', '.join(unseen)} (points; the drop, for the held-out rows).", "",
             f"Command: `{results['command']}` ({results['date']}, {results['machine']}). "
             f"{code_line(results['rows']).strip()}", "",
             "| model | recipe | training devices | seeds | accuracy % | other devices % | "
             f"{', '.join(unseen)} % | gap (points) | " + " | ".join(f"{d} %" for d in unseen) + " |",
             "|---|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(unseen)]
    for (model, recipe, training), rs in groups.items():
        lines.append(f"| {model} | {recipe} | {label[training]} | {len(rs)} | {_cell([r['accuracy'] for r in rs])} | "
                     f"{_cell([r['first_group'] for r in rs])} | {_cell([r['second_group'] for r in rs])} | "
                     f"{_cell([r['gap'] for r in rs])} | "
                     + " | ".join(_cell([r['per_device'][d] for r in rs]) for d in unseen) + " |")
    lines += ["", f"| model | recipe | drop (held out) | gap with every device in training | from not having heard "
              f"them (points) | {', '.join(unseen)} held out % | {', '.join(unseen)} heard % |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for model, recipe in dict.fromkeys((m, r) for m, r, _ in groups):
        held, both = groups.get((model, recipe, "held-out")), groups.get((model, recipe, "all"))
        if not held or not both:
            continue
        drop, floor = _mean(held, "gap"), _mean(both, "gap")
        lines.append(f"| {model} | {recipe} | {drop:.1f} | {floor:.1f} | {drop - floor:.1f} | "
                     f"{_mean(held, 'second_group'):.1f} | {_mean(both, 'second_group'):.1f} |")
    return "\n".join(lines) + "\n"


def build_ceiling_parser() -> argparse.ArgumentParser:
    """:func:`benchmarks.compare.build_parser` with the scene sets' options (``--data`` is set by the command)."""
    p = build_parser("python -m benchmarks.device_ceiling", __doc__.split("\n\n")[0])
    p.add_argument("--root", default="/tmp/lightops-device-ceiling", help="folder of the two scene sets")
    p.add_argument("--segments", type=int, default=28, help="segments per class, half of them for training")
    p.add_argument("--seen-devices", nargs="+", default=["a", "b", "c", "s1", "s2", "s3"])
    p.add_argument("--unseen-devices", nargs="+", default=["s4", "s5", "s6"])
    p.add_argument("--scene-family", choices=DEVICE_FAMILIES, default="tau", help="device family of the scene sets")
    p.add_argument("--scene-seed", type=int, default=0, help="seed of the scene sets")
    p.set_defaults(models=["dssdn_small", "dcase2025_baseline"], recipes=["recipe dcase"], epochs=30, clip_seconds=1.0,
                   docs=str(Path(__file__).resolve().parents[1] / "docs" / "models.md"))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Train (or re-render) both training sets; print the tables; write the JSON and the docs block."""
    args = build_ceiling_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.device_families:
        raise SystemExit("device_ceiling: the scene sets have one family (--scene-family), not --device-families")
    if args.data != "synthetic":
        raise SystemExit("device_ceiling: the command writes its own scene sets under --root; --data does not apply")
    return report(args, run, markdown, "device-ceiling")


if __name__ == "__main__":
    sys.exit(main())
