"""fp32, PTQ and QAT accuracy over seeds: every run of ``benchmarks.compare`` put through ``lightops quantize``.

Every (model, seed) is first a ``lightops train`` run of :mod:`benchmarks.compare` (same folders, same reuse), then
``lightops quantize RUN/last.pt --out RUN/int8/<form>-<backend>-qat<N> --qat-epochs N`` (one thread), reused when its
``quantize.json`` is complete, was written by the same command and records the activation observers the flow uses
now. The table gives, as mean and spread over seeds, the float model's accuracy on the evaluate split, the PTQ and
QAT accuracies and their change in points against the same checkpoint's float accuracy, the float accuracy on the
devices the run did not train on and the PTQ and QAT change there (``n/a`` for data without unseen devices), and the
int8 program's parameter memory (``QuantizedModel.int8_param_bytes``: int8 values at 1 byte, float ones at 4). ::

    python -m benchmarks.compare_int8 --models dssdn_small dssdn_large --seeds 0 1 2 --epochs 15 --qat-epochs 2
    python -m benchmarks.compare_int8 --from-json benchmarks/results/int8-accuracy.json   # re-render the block
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from benchmarks.compare import ROOT, Job, build_parser, plan, report, run_dir, train_run
from benchmarks.compare import run as compare_run
from benchmarks.compare_table import code_line, spread
from lightops.deploy.pt2e import QAT_STATE_NAME

__all__ = ["quantize_dir", "quantize_command", "same_flow", "quantize_run", "run_row", "markdown", "main"]

# figure of a row -> (column title, scale, digits)
FIGURES = {
    "fp32": ("fp32 %", 100.0, 1),
    "ptq": ("PTQ %", 100.0, 1),
    "ptq_change": ("PTQ change (points)", 1.0, 2),
    "qat": ("QAT %", 100.0, 1),
    "qat_change": ("QAT change (points)", 1.0, 2),
    "fp32_unseen": ("fp32 unseen %", 100.0, 1),
    "ptq_unseen_change": ("PTQ unseen change", 1.0, 2),
    "qat_unseen_change": ("QAT unseen change", 1.0, 2),
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The options of :mod:`benchmarks.compare` and the quantization's own."""
    p = build_parser("python -m benchmarks.compare_int8", __doc__.split("\n\n")[0])
    p.set_defaults(models=["dssdn_small", "dssdn_large"], docs=str(ROOT / "docs" / "deploy.md"),
                   runs=str(ROOT / "runs" / "compare"))
    p.add_argument("--qat-epochs", type=int, default=2, help="lightops quantize --qat-epochs (0: PTQ only)")
    p.add_argument("--form", default="memory", choices=("memory", "speed"), help="lightops quantize --form")
    p.add_argument("--backend", default="xnnpack", choices=("xnnpack", "x86"), help="lightops quantize --backend")
    p.add_argument("--calibration-clips", type=int, default=128, help="lightops quantize --calibration-clips")
    p.add_argument("--qat-lr", type=float, default=None, help="lightops quantize --lr (default: its default)")
    p.add_argument("--qat-observer", default="histogram", choices=("histogram", "minmax"),
                   help="lightops quantize --qat-observer")
    return p.parse_args(argv)


def quantize_dir(args: argparse.Namespace, job: Job) -> Path:
    """The output folder of one run's quantization."""
    lr = "" if args.qat_lr is None else f"-lr{args.qat_lr:g}"
    observer = "" if args.qat_observer == "histogram" else f"-{args.qat_observer}"
    return run_dir(args, job) / "int8" / f"{args.form}-{args.backend}-qat{args.qat_epochs}{lr}{observer}"


def quantize_command(args: argparse.Namespace, job: Job) -> List[str]:
    """The ``lightops quantize`` command line of one run (its QAT data order seeded by the run's seed)."""
    return [sys.executable, "-m", "lightops.cli", "quantize", str(run_dir(args, job) / "last.pt"),
            "--out", str(quantize_dir(args, job)), "--qat-epochs", str(args.qat_epochs), "--form", args.form,
            "--backend", args.backend, "--calibration-clips", str(args.calibration_clips), "--seed", str(job.seed),
            "--quiet"] + ([] if args.qat_lr is None else ["--lr", f"{args.qat_lr:g}"]) + (
                [] if args.qat_observer == "histogram" else ["--qat-observer", args.qat_observer])


def same_flow(args: argparse.Namespace, result: Dict[str, Any]) -> bool:
    """Whether a finished ``quantize.json`` was made by the activation observers this library's flow uses now (a
    result written before they were recorded, or by the other observer, is not reused)."""
    from lightops.deploy.pt2e import activation_observer

    flows = {"ptq": False, "qat": True}
    return all(row.get("activation_observer") == activation_observer(args.backend, flows[name], args.qat_observer)
               for name, row in result["results"].items() if name in flows)


def quantize_run(args: argparse.Namespace, job: Job) -> Dict[str, Any]:
    """Train (or reuse) one run, then quantize it (or reuse a complete ``quantize.json`` of the same command and flow;
    an unfinished QAT of the same command is resumed, any other QAT state in the folder is deleted first)."""
    train_run(args, job)
    out, cmd = quantize_dir(args, job), quantize_command(args, job)
    result, record = out / "quantize.json", out / "compare_command.json"
    same = record.is_file() and json.loads(record.read_text())["argv"] == cmd[1:]
    done = json.loads(result.read_text()) if result.is_file() else {}
    complete = bool(done.get("complete"))
    if complete and same and not args.fresh:
        if same_flow(args, done):
            return done
        print(f"  {job.family or '':4} {job.model:<28} seed {job.seed}: quantized by another observer; again",
              flush=True)
    if complete or not same or args.fresh:  # the QAT state left there is of another fine-tuning: start over
        (out / QAT_STATE_NAME).unlink(missing_ok=True)
    t0 = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not result.is_file():
        raise RuntimeError(f"{job} failed ({shlex.join(cmd)}):\n{proc.stderr[-3000:]}")
    record.write_text(json.dumps({"argv": cmd[1:]}, indent=1) + "\n")
    print(f"  {job.family or '':4} {job.model:<28} seed {job.seed}: quantized in {time.perf_counter() - t0:6.0f} s",
          flush=True)
    return json.loads(result.read_text())


def run_row(job: Job, result: Dict[str, Any]) -> Dict[str, Any]:
    """The figures of one quantized run: accuracies (fractions), changes (points), int8 parameter memory."""
    res = result["results"]
    row: Dict[str, Any] = dict(family=job.family, model=job.model, recipe=job.recipe, seed=job.seed,
                               fp32=res["fp32"]["accuracy"], eval_clips=result["eval_clips"],
                               input_size=result["input_size"])
    if "unseen_accuracy" in res["fp32"]:
        row["fp32_unseen"] = res["fp32"]["unseen_accuracy"]
    for name in ("ptq", "qat"):
        if name in res:
            row[name], row[f"{name}_change"] = res[name]["accuracy"], res[name]["change_points"]
            if "unseen_change_points" in res[name]:
                row[f"{name}_unseen_change"] = res[name]["unseen_change_points"]
    row["int8_param_bytes"], row["int8_values"] = res["ptq"]["param_bytes"], res["ptq"]["params"]
    return row


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Train and quantize every (family, model, recipe, seed); the results dict (rows, training results, command)."""
    first, kd = plan(args)
    if kd:
        raise SystemExit("compare_int8: distillation recipes are not supported here; quantize their runs with "
                         "lightops quantize")
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda j: quantize_run(args, j), first))
    training = compare_run(args)  # every run is finished: only reads them
    command = shlex.join(["python", "-m", "benchmarks.compare_int8", *(args.argv or [])])
    return dict(training, rows=[run_row(j, r) for j, r in zip(first, results)], training_rows=training["rows"],
                command=command, qat_epochs=args.qat_epochs, qat_lr=args.qat_lr, qat_observer=args.qat_observer,
                form=args.form, backend=args.backend, calibration_clips=args.calibration_clips)


def _cell(values: Sequence[Optional[float]], scale: float, digits: int, signed: bool = False) -> str:
    s = spread(values)
    if s is None:
        return "n/a"
    mean = f"{s['mean'] * scale:{'+' if signed else ''}.{digits}f}"
    return mean if s["n"] < 2 else f"{mean} ± {s['std'] * scale:.{digits}f}"


def markdown(results: Dict[str, Any]) -> str:
    """The docs block: settings, command, one row per (family, model, recipe) with mean ± std over seeds."""
    rows = results["rows"]
    s = results["training_rows"][0]["settings"]
    seeds = sorted({r["seed"] for r in rows})
    lr = "" if results.get("qat_lr") is None else f" --lr {results['qat_lr']:g}"
    observer = results.get("qat_observer", "histogram")
    lr += "" if observer == "histogram" else f" --qat-observer {observer}"
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["family"], r["model"], r["recipe"]), []).append(r)
    lines = [f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}); each a {s['epochs']}-epoch `lightops train` run "
             f"on {'synthetic scenes' if s['data'] == 'synthetic' else s['data']} ({s['train_clips']} training / "
             f"{s['eval_clips']} evaluation clips of {s['clip_seconds']:g} s at {s['sample_rate']} Hz, "
             f"{s['n_mels']} mel bins), then `lightops quantize --form {results['form']} --backend "
             f"{results['backend']} --calibration-clips {results['calibration_clips']} --qat-epochs "
             f"{results['qat_epochs']}{lr}`. Accuracy on the evaluate split; a change is the int8 model's accuracy "
             f"minus the same checkpoint's float accuracy, in points; the unseen columns are the "
             f"same on the devices the run did not train on. Mean ± standard deviation over seeds (every "
             f"seed in the JSON). int8 parameter memory: int8 values at 1 byte, float values at 4.", "",
             f"Command: `{results['command']}` ({results['date']}, {results['machine']})."
             f"{code_line(results['training_rows'])}", "",
             "| family | model | " + " | ".join(t for t, _, _ in FIGURES.values()) + " | int8 parameter memory |",
             "|---|---|" + "---:|" * (len(FIGURES) + 1)]
    for (family, model, recipe), rs in groups.items():
        name = model if recipe == "default" else f"{model} ({recipe})"
        cells = [_cell([r.get(k) for r in rs], scale, digits, k.endswith("_change"))
                 for k, (_, scale, digits) in FIGURES.items()]
        lines.append(f"| {family or '-'} | {name} | " + " | ".join(cells) + f" | {rs[0]['int8_param_bytes']:,} B |")
    lines += ["", "Change per seed (points, PTQ / QAT): " + "; ".join(
        (f"{model} ({family})" if family else model) + " "
        + ", ".join(f"{r['ptq_change']:+.2f} / {r.get('qat_change', float('nan')):+.2f}" for r in rs)
        for (family, model, _), rs in groups.items()) + "."]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Train, quantize (or re-render) and write the JSON and the docs block."""
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return report(args, run, markdown, "int8-accuracy")

if __name__ == "__main__":
    sys.exit(main())
