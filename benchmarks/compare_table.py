"""The tables of ``python -m benchmarks.compare``: one row per (device family, model, recipe), mean and spread over
seeds of what a finished run's ``metrics.json`` holds.

A run's figures (:func:`run_row`) are read from ``metrics.json`` as :func:`lightops.train.train` writes it; a group's
(:func:`summarize`) are the mean, sample standard deviation, minimum and maximum over its seeds; :func:`markdown`
renders a results dict (rows, settings, command, date, machine) as the docs block.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from lightops.train.metrics import device_sort_key

__all__ = ["FIGURES", "run_row", "spread", "summarize", "code_line", "markdown"]

# figure -> (column title, scale for the table, digits); accuracies in %, the drop in points
FIGURES: Dict[str, Tuple[str, float, int]] = {
    "accuracy": ("accuracy %", 100.0, 1),
    "seen": ("seen %", 100.0, 1),
    "unseen": ("unseen %", 100.0, 1),
    "drop": ("drop (points)", 100.0, 1),
    "log_loss": ("log loss", 1.0, 3),
    "epoch_seconds": ("s / epoch", 1.0, 1),
}


def run_row(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """The figures of one finished run, from its ``metrics.json`` dict.

    Returns:
        ``accuracy``, ``seen``, ``unseen`` (None without unseen devices), ``drop`` (seen - unseen), ``log_loss``,
        ``per_device`` (id -> accuracy), ``params``, ``macs`` (at ``input_size``), ``param_bytes_fp16``
        (params x 2 bytes), ``epoch_seconds`` (training part of an epoch) and ``settings`` (data and front end).
    """
    seen, unseen = metrics["seen"]["accuracy"], metrics["unseen"]["accuracy"]
    front, data = metrics["frontend"], metrics["data"]
    settings = dict(data=data["source"], train_clips=data["train_clips"], eval_clips=data["eval_clips"],
                    clip_seconds=data["clip_seconds"], sample_rate=front["sample_rate"], n_fft=front["n_fft"],
                    hop_length=front["hop_length"], n_mels=front["n_mels"], epochs=metrics["epochs"],
                    batch_size=metrics["batch_size"], train_devices=data["train_devices"], device=metrics["device"])
    return dict(accuracy=metrics["accuracy"], seen=seen, unseen=unseen,
                drop=None if seen is None or unseen is None else seen - unseen, log_loss=metrics["log_loss"],
                per_device={d: v["accuracy"] for d, v in metrics["per_device"].items()},
                unseen_devices=metrics["unseen"]["devices"], params=metrics["params"], macs=metrics["macs"],
                input_size=list(metrics["input_size"]), param_bytes_fp16=2 * metrics["params"],
                epoch_seconds=metrics["mean_train_seconds_per_epoch"], settings=settings)


def spread(values: Sequence[Optional[float]]) -> Optional[Dict[str, float]]:
    """Mean, sample standard deviation (0 for one value), min and max of the values that are not None."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return dict(mean=statistics.fmean(vals), std=std, min=min(vals), max=max(vals), n=len(vals))


def summarize(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Group runs by (family, model, recipe) in order of first appearance; the spread of each figure over seeds.

    Args:
        rows: runs with ``family``, ``model``, ``recipe``, ``seed`` and the keys of :func:`run_row`.

    Returns:
        One dict per group: ``family``, ``model``, ``recipe``, ``seeds``, each figure of :data:`FIGURES` as a
        :func:`spread` dict, ``per_device`` (id -> spread), ``params``, ``macs``, ``param_bytes_fp16`` and
        ``input_size`` (equal over seeds).
    """
    groups: Dict[Tuple[Any, str, str], List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("family"), r["model"], r["recipe"]), []).append(r)
    out = []
    for (family, model, recipe), rs in groups.items():
        devices = sorted({d for r in rs for d in r["per_device"]}, key=device_sort_key)
        out.append(dict(family=family, model=model, recipe=recipe, seeds=[r["seed"] for r in rs],
                        **{k: spread([r[k] for r in rs]) for k in FIGURES},
                        per_device={d: spread([r["per_device"].get(d) for r in rs]) for d in devices},
                        params=rs[0]["params"], macs=rs[0]["macs"], param_bytes_fp16=rs[0]["param_bytes_fp16"],
                        input_size=rs[0]["input_size"]))
    return out


def _cell(s: Optional[Dict[str, float]], scale: float = 100.0, digits: int = 1) -> str:
    if s is None or math.isnan(s["mean"]):
        return "n/a"
    mean = f"{s['mean'] * scale:.{digits}f}"
    return mean if s["n"] < 2 else f"{mean} ± {s['std'] * scale:.{digits}f}"


def _si(n: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.1f} {prefix}{unit}"
    return f"{n:g} {unit}"


def _settings_line(results: Dict[str, Any]) -> str:
    s = results["rows"][0]["settings"]
    seeds = sorted({r["seed"] for r in results["rows"]})
    seen = ", ".join(s["train_devices"])
    unseen = sorted({d for r in results["rows"] for d in r["unseen_devices"]}, key=device_sort_key)
    data = "synthetic scenes" if s["data"] == "synthetic" else f"the TAU-layout folder `{s['data']}`"
    return (f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({', '.join(map(str, seeds))}) of {s['epochs']} "
            f"epoch{'s' if s['epochs'] > 1 else ''} on {data}: {s['train_clips']} training / {s['eval_clips']} "
            f"evaluation clips of {s['clip_seconds']:g} s at {s['sample_rate']} Hz, log-mel n_fft {s['n_fft']}, "
            f"hop {s['hop_length']}, {s['n_mels']} bins; batch {s['batch_size']}. Mean ± standard deviation over "
            f"seeds (min and max in the JSON). Seen devices "
            f"{seen}; unseen {', '.join(unseen) or 'none'}. MACs of one clip at the run's input size; parameter "
            f"memory at fp16 (params x 2 bytes); s / epoch is the training part of an epoch (runs in parallel share "
            f"the CPU).")


def code_line(rows: Sequence[Dict[str, Any]]) -> str:
    """`` Runs trained at lightops 4ad836e (12).``: the code versions of the rows' runs (empty for results written
    before runs kept them)."""
    codes = Counter(r["code"] for r in rows if "code" in r)
    if not codes:
        return ""
    return " Runs trained at lightops " + ", ".join(f"{c} ({n})" for c, n in codes.most_common()) + "."


def _family_tables(groups: List[Dict[str, Any]]) -> List[str]:
    head = "| model | recipe | " + " | ".join(t for t, _, _ in FIGURES.values()) + " | params | MACs | memory (fp16) |"
    lines = [head, "|---|---|" + "---:|" * (len(FIGURES) + 3)]
    for g in groups:
        cells = [_cell(g[k], scale, digits) for k, (_, scale, digits) in FIGURES.items()]
        lines.append(f"| {g['model']} | {g['recipe']} | " + " | ".join(cells) +
                     f" | {g['params']:,} | {_si(g['macs'], '')} | {_si(g['param_bytes_fp16'], 'B')} |")
    devices = sorted({d for g in groups for d in g["per_device"]}, key=device_sort_key)
    lines += ["", "Accuracy per device (%):", "", "| model | recipe | " + " | ".join(devices) + " |",
              "|---|---|" + "---:|" * len(devices)]
    for g in groups:
        lines.append(f"| {g['model']} | {g['recipe']} | " +
                     " | ".join(_cell(g["per_device"].get(d)) for d in devices) + " |")
    return lines


def markdown(results: Dict[str, Any]) -> str:
    """The docs block of a results dict: settings, command, then the tables of each device family."""
    groups = summarize(results["rows"])
    families = list(dict.fromkeys(g["family"] for g in groups))
    lines = [_settings_line(results), "",
             f"Command: `{results['command']}` ({results['date']}, {results['machine']}).{code_line(results['rows'])}"]
    for family in families:
        lines.append("")
        if family is not None:
            lines += [f"Synthetic device family `{family}`:", ""]
        lines += _family_tables([g for g in groups if g["family"] == family])
    return "\n".join(lines)
