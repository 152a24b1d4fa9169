"""Device models from unlabeled recordings (``lightops adapt``, batch-norm statistics): what they recover on each
device, seen and unseen, for the runs of a comparison.

For every run of :mod:`benchmarks.compare` (trained, or reused from ``--runs``), the evaluation clips of each device
are shuffled (``--adapt-seed``) and split in two halves. The general model is adapted
(:func:`lightops.deploy.adapt.adapt_batchnorm`) on ``N`` clips of one half (a random sample of the device's
recordings), without their labels, and scores the other half; then the halves swap. No clip is scored by a model
adapted on it, and every clip is scored once, so the figures compare with the general model's on the very same
clips. ::

    python -m benchmarks.adapt_devices --models dssdn_small dcase2025_baseline --recipes 'recipe dcase' \\
        --device-families tau eq --seeds 0 1 2 --epochs 30 --runs /tmp/runs --adapt-clips 10 30 \\
        --block dssdn-adapt-synthetic-30
    python -m benchmarks.adapt_devices --from-json benchmarks/results/dssdn-adapt-synthetic-30.json  # re-render

Every option of :mod:`benchmarks.compare` applies (``--data FOLDER`` for a TAU-layout folder).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks.compare import Job, build_parser, report, run_dir
from benchmarks.compare import run as compare_run
from benchmarks.compare_table import code_line, spread
from lightops.audio import FrontEnd
from lightops.checkpoint import load_model, read_checkpoint
from lightops.deploy.adapt import adapt_batchnorm
from lightops.train import TrainConfig, build_datasets
from lightops.train.metrics import classification_metrics

ORDER_TEXT = {"shuffled": "shuffled and split in two halves, each half",
              "listed": "split in two halves in the set's own order (alternate clips; the first N of a half adapt), "
                        "each half"}

__all__ = ["cross_adapted_logits", "adapt_run", "run", "markdown", "build_adapt_parser", "main"]


def _inputs(frontend: FrontEnd, dataset: Any, indices: Sequence[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([frontend(torch.stack([dataset[i][0] for i in indices[k:k + 64]]))
                          for k in range(0, len(indices), 64)])


def cross_adapted_logits(model: torch.nn.Module, x: torch.Tensor, clips: int,
                         order: Optional[torch.Tensor] = None, prior: float = 0.0) -> torch.Tensor:
    """Logits of ``x`` (one device's clips, ``(N, C, F, T)``), each half scored by ``model`` adapted on at most
    ``clips`` inputs of the other half: the halves are alternate entries of ``order`` (a permutation of the inputs;
    None: their own order), and a half's first ``clips`` entries adapt (with the trained statistics weighted as
    ``prior`` clips)."""
    order = torch.arange(len(x)) if order is None else order
    halves = (order[0::2], order[1::2])
    out = torch.zeros(len(x), 0)
    for score, adapt in (halves, halves[::-1]):
        if len(score) == 0:
            continue
        if len(adapt) == 0:
            raise ValueError("a device with one evaluation clip cannot be split in two halves")
        adapted = adapt_batchnorm(model, [x[adapt[:clips]]], prior=prior)
        with torch.no_grad():
            logits = adapted(x[score])
        if out.shape[1] == 0:
            out = torch.zeros(len(x), logits.shape[1])
        out[score] = logits
    return out


def adapt_run(checkpoint: Path, data: str, clips: Sequence[int], seed: int = 0, shuffle: bool = True,
              priors: Sequence[float] = (0.0,)) -> Dict[Tuple[int, float], Dict[str, Any]]:
    """``{(0, 0): the general model's metrics, (N, P): those with each device's half adapted on N clips of the other,
    the trained statistics weighted as P clips}`` on the
    evaluation split of ``data`` (the run's own settings). Each device's clips are shuffled (``seed``) before they are
    split, so the adapting clips are a random sample of the device's recordings: a set's own order (TAU's lists are
    sorted by scene) would hand the statistics one scene; ``shuffle=False`` keeps that order, to measure what
    statistics of one or two scenes do."""
    ckpt = read_checkpoint(checkpoint)
    saved = ckpt["args"]
    cfg = TrainConfig.from_dict(dict(saved, data=data, resume=False, num_eval_clips=saved.get("num_eval_clips")))
    _, eval_set = build_datasets(cfg)
    model = load_model(ckpt).model.eval()
    frontend = FrontEnd.from_config(ckpt["frontend"]).eval()
    devices = [eval_set.device_of(i) for i in range(len(eval_set))]
    labels = torch.tensor([eval_set.label_of(i) for i in range(len(eval_set))])
    classes, seen = list(ckpt["classes"]), ckpt.get("train_devices")
    settings = [(0, 0.0)] + [(n, float(p)) for n in clips for p in priors]
    logits = {k: torch.zeros(len(eval_set), len(classes)) for k in settings}
    for k, device in enumerate(dict.fromkeys(devices)):
        idx = [i for i, d in enumerate(devices) if d == device]
        x = _inputs(frontend, eval_set, idx)
        order = (torch.randperm(len(idx), generator=torch.Generator().manual_seed(1000 * seed + k)) if shuffle
                 else torch.arange(len(idx)))
        with torch.no_grad():
            logits[(0, 0.0)][idx] = model(x)
        for n, p in settings[1:]:
            logits[(n, p)][idx] = cross_adapted_logits(model, x, n, order, p)
    return {n: classification_metrics(v, labels, devices, classes, seen) for n, v in logits.items()}


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Train (or reuse) the comparison's runs; score each general and adapted; the results dict."""
    results = compare_run(args)
    rows: List[Dict[str, Any]] = []
    for r in results["rows"]:
        job = Job(r["family"], r["model"], r["recipe"], r["seed"])
        for (n, prior), m in adapt_run(run_dir(args, job) / "last.pt", args.data, args.adapt_clips, args.adapt_seed,
                                       args.adapt_order == "shuffled", args.adapt_prior).items():
            seen, unseen = m["seen"]["accuracy"], m["unseen"]["accuracy"]
            rows.append(dict(family=r["family"], model=r["model"], recipe=r["recipe"], seed=r["seed"], code=r["code"],
                             clips=n, prior=prior, accuracy=m["accuracy"], seen=seen, unseen=unseen,
                             drop=None if seen is None or unseen is None else seen - unseen,
                             per_device={d: v["accuracy"] for d, v in m["per_device"].items()},
                             unseen_devices=m["unseen"]["devices"], settings=r["settings"]))
    command = results["command"].replace("benchmarks.compare", "benchmarks.adapt_devices", 1)
    return dict(rows=rows, command=command, date=results["date"], machine=results["machine"],
                order=args.adapt_order)


def _cell(values: Sequence[Optional[float]]) -> str:
    s = spread([None if v is None else 100.0 * v for v in values])
    if s is None:
        return "n/a"
    return f"{s['mean']:.1f}" + (f" ± {s['std']:.1f}" if s["n"] > 1 else "")


def markdown(results: Dict[str, Any]) -> str:
    """Per device family: one row per (model, recipe, clips per device), mean ± standard deviation over seeds of
    overall, seen and unseen accuracy, the drop and each device."""
    rows = results["rows"]
    first = rows[0]["settings"]
    seeds = sorted({r["seed"] for r in rows})
    lines = [f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}); {first['eval_clips']} evaluation clips of "
             f"{first['clip_seconds']:g} s from `{first['data']}`; {first['epochs']} epochs. `clips per device`: 0 is "
             f"the general model; N: each device's evaluation clips {ORDER_TEXT[results.get('order', 'shuffled')]} "
             f"scored by the general model with its batch-norm statistics from N unlabeled clips of the other half "
             f"(`lightops adapt`), the trained statistics weighted as `prior` clips beside them. Mean ± standard "
             f"deviation over seeds; drop = seen - unseen (points).", "",
             f"Command: `{results['command']}` ({results['date']}, {results['machine']})."
             f"{code_line([r for r in rows if r['clips'] == 0])}"]
    families: Dict[Any, Dict[Tuple[str, str, int, float], List[Dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list))
    for r in rows:
        families[r["family"]][(r["model"], r["recipe"], r["clips"], r.get("prior", 0.0))].append(r)
    for family, groups in families.items():
        devices = list(next(iter(groups.values()))[0]["per_device"])
        if family:
            lines += ["", f"Synthetic device family `{family}`:"]
        lines += ["", "| model | recipe | clips per device | prior | accuracy % | seen % | unseen % | drop (points) | "
                  + " | ".join(devices) + " |", "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(devices)]
        for (model, recipe, n, prior), rs in groups.items():
            lines.append(f"| {model} | {recipe} | {n} | {prior:g} | {_cell([r['accuracy'] for r in rs])} | "
                         f"{_cell([r['seen'] for r in rs])} | {_cell([r['unseen'] for r in rs])} | "
                         f"{_cell([r['drop'] for r in rs])} | "
                         + " | ".join(_cell([r["per_device"].get(d) for r in rs]) for d in devices) + " |")
    return "\n".join(lines) + "\n"


def build_adapt_parser() -> argparse.ArgumentParser:
    """:func:`benchmarks.compare.build_parser` with ``--adapt-clips``."""
    p = build_parser("python -m benchmarks.adapt_devices", __doc__.split("\n\n")[0])
    p.add_argument("--adapt-clips", nargs="+", type=int, default=[10, 30],
                   help="unlabeled clips per device the statistics come from, each its own rows")
    p.add_argument("--adapt-prior", nargs="+", type=float, default=[0.0],
                   help="weights of the trained statistics, in clips (lightops adapt --prior), each its own rows")
    p.add_argument("--adapt-seed", type=int, default=0, help="seed of the random halves of each device's clips")
    p.add_argument("--adapt-order", choices=("shuffled", "listed"), default="shuffled",
                   help="shuffled: the halves and adapting clips are a random sample of a device's clips; listed: "
                        "alternate clips in the set's own order, the first of a half adapting (a sorted TAU list "
                        "gives them one or two scenes)")
    p.set_defaults(docs=str(Path(__file__).resolve().parents[1] / "docs" / "models.md"))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Train or reuse the runs, adapt and score them (or re-render); print the tables; write the JSON and the block."""
    args = build_adapt_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if any(n < 1 for n in args.adapt_clips):
        raise SystemExit(f"adapt_devices: --adapt-clips must be positive, got {args.adapt_clips}")
    return report(args, run, markdown, "dssdn-adapt")


if __name__ == "__main__":
    sys.exit(main())
