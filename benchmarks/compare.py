"""Models x recipes x seeds, each one ``lightops train`` run, on the synthetic scenes or a TAU-layout folder.

Every run is its own ``lightops train`` process (one thread) in ``RUNS/<data>/<family>/<model>/<recipe>/seed<N>``;
a run whose folder holds a ``metrics.json`` written by the same options, for the network the model name builds today,
is reused (``--fresh`` retrains). Each run records the lightops code that trained it (:func:`code_version`); a run
reused from other code is named when it is reused (``--retrain-changed`` retrains it) and the block says which code
versions trained its rows, so a table whose runs predate a change of the library says so. The figures come from that
``metrics.json``: accuracy, seen- and unseen-device accuracy and their drop, per-device accuracy, log loss, params,
MACs at the run's input size, parameter memory at fp16 and epoch time; the command writes them, as mean and spread
over seeds, to a JSON file and to a docs block (``benchmarks.docs.blocks``).

Models are timm names, with model arguments in brackets: ``dcase2025_baseline[op=spc]``. Recipes are the
named option lists of :data:`RECIPES`; a KD recipe's ``{teacher}`` is the ``last.pt`` of its teacher run (same
seed, family and data), trained first; an ensemble recipe's is the ``last.pt`` of the teacher runs of every seed of
the comparison (their mean logits teach each seed's student). ::

    python -m benchmarks.compare --models dssdn_small "dcase2025_baseline[op=spc]" --recipes default "recipe dcase"
    python -m benchmarks.compare --device-families tau eq --seeds 0 1 2 --jobs 2 --block compare-recipes
    python -m benchmarks.compare --data /data/TAU-urban-acoustic-scenes-2020-mobile-development --epochs 30
    python -m benchmarks.compare --from-json benchmarks/results/compare-recipes.json   # re-render the block
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from benchmarks.compare_table import markdown, run_row
from benchmarks.docs.blocks import write_block

__all__ = ["Recipe", "RECIPES", "Job", "parse_model", "build_parser", "run_dir", "train_command", "teacher_jobs",
           "current_architecture", "trained_architecture", "code_version", "code_label", "train_run", "plan", "report",
           "main"]

ROOT = Path(__file__).resolve().parents[1]


class Recipe(NamedTuple):
    """Extra ``lightops train`` options; ``{teacher}`` is the ``last.pt`` of the ``teacher`` (model, recipe) run of the
    same seed, or with ``ensemble`` of every seed of the comparison (``--teacher A B C``: the mean of their logits)."""

    options: Tuple[str, ...]
    teacher: Optional[Tuple[str, str]] = None
    ensemble: bool = False


RECIPES: Dict[str, Recipe] = {
    "default": Recipe(()),
    "+ Freq-MixStyle": Recipe(("--freq-mixstyle", "0.4")),
    "+ DIR": Recipe(("--dir", "simulated")),
    "+ Freq-MixStyle + DIR": Recipe(("--freq-mixstyle", "0.4", "--dir", "simulated")),
    "recipe dcase": Recipe(("--recipe", "dcase")),
    # Freq-MixStyle on twice as many batches as the DCASE 2025 baseline's 0.4 (the strength of the style mixing)
    "recipe dcase + Freq-MixStyle 0.8": Recipe(("--recipe", "dcase", "--freq-mixstyle", "0.8")),
    "recipe dcase + KD (dssdn_large)": Recipe(("--recipe", "dcase", "--teacher", "{teacher}"),
                                              teacher=("dssdn_large", "recipe dcase")),
    "recipe dcase + KD (dssdn_small)": Recipe(("--recipe", "dcase", "--teacher", "{teacher}"),
                                              teacher=("dssdn_small", "recipe dcase")),
    "KD (dssdn_large)": Recipe(("--teacher", "{teacher}"), teacher=("dssdn_large", "default")),
    # wider SpecAugment frequency masks: one mask of up to 96 bins (3/8 of 256) instead of n_mels // 8
    "recipe dcase + freq-mask 96": Recipe(("--recipe", "dcase", "--freq-mask", "96")),
    # FilterAugment (Nam et al. 2022): a random piecewise-linear frequency response per clip, the reference's +-6 dB
    "recipe dcase + FilterAugment": Recipe(("--recipe", "dcase", "--filter-augment", "1.0")),
    # Freq-DSU (DSU, Li et al. 2022, on frequency): per-bin statistics drawn from the batch's own spread, p 0.5
    "recipe dcase + Freq-DSU": Recipe(("--recipe", "dcase", "--freq-dsu", "0.5")),
    # a moving average of the weights (timm's ModelEmaV3, warmed-up decay), evaluated and saved as the model
    "recipe dcase + EMA": Recipe(("--recipe", "dcase", "--model-ema", "0.999")),
    # device-adversarial training (DANN: a device classifier on the pooled features, its gradient reversed)
    "recipe dcase + device-adversarial 0.3": Recipe(("--recipe", "dcase", "--device-adversarial", "0.3")),
    "recipe dcase + device-adversarial 1.0": Recipe(("--recipe", "dcase", "--device-adversarial", "1.0")),
    # generic regularisers at the recipe's length: mixup (off in the recipe), five times the weight decay
    "recipe dcase + mixup 0.3": Recipe(("--recipe", "dcase", "--mixup", "0.3")),
    "recipe dcase + weight decay 0.05": Recipe(("--recipe", "dcase", "--weight-decay", "0.05")),
    # an ensemble of teachers, the field's practice (CP-JKU's DCASE systems): one teacher run per seed, all seeds
    "KD (dssdn_large, seed ensemble)": Recipe(("--teacher", "{teacher}"), teacher=("dssdn_large", "default"),
                                              ensemble=True),
    "recipe dcase + KD (dssdn_small, seed ensemble)": Recipe(("--recipe", "dcase", "--teacher", "{teacher}"),
                                                             teacher=("dssdn_small", "recipe dcase"), ensemble=True),
}
"""Recipe name -> options; the rows of the device ablation in docs/training.md."""


class Job(NamedTuple):
    """One training run: a device family (None off the synthetic data), a model spec, a recipe, a seed."""

    family: Optional[str]
    model: str
    recipe: str
    seed: int


def parse_model(spec: str) -> Tuple[str, Dict[str, Any]]:
    """``"name[k=v,k2=v2]"`` -> ``("name", {"k": v, ...})``; values are JSON when they parse, else strings."""
    m = re.fullmatch(r"([\w.-]+)(?:\[(.*)\])?", spec.strip())
    if m is None:
        raise SystemExit(f"compare: model '{spec}' is not of the form name or name[key=value,...]")
    kwargs: Dict[str, Any] = {}
    for item in filter(None, (m.group(2) or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"compare: model argument '{item}' of '{spec}' is not key=value")
        try:
            kwargs[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key.strip()] = value.strip()
    return m.group(1), kwargs


def build_parser(prog: str = "python -m benchmarks.compare", description: str = __doc__.split("\n\n")[0]
                 ) -> argparse.ArgumentParser:
    """The options of a comparison (another command built on it adds its own); front-end and data options not
    given take ``lightops train``'s defaults."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--models", nargs="+", default=["dssdn_small", "dcase2025_baseline", "dcase2025_baseline[op=spc]"],
                   help="timm names, model arguments in brackets: dcase2025_baseline[op=spc]")
    p.add_argument("--recipes", nargs="+", default=["default"], help=f"names of recipes: {', '.join(RECIPES)}")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--data", default="synthetic", help="'synthetic' or a TAU Urban Acoustic Scenes 2020 Mobile folder")
    p.add_argument("--device-families", nargs="+", default=None, metavar="FAMILY",
                   help="synthetic device families, each its own rows (lightops train --synthetic-devices)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--clips", type=int, default=800, help="synthetic training clips")
    p.add_argument("--eval-clips", type=int, default=540, help="synthetic evaluation clips")
    for flag in ("--clip-seconds", "--sample-rate", "--n-fft", "--hop-length", "--n-mels", "--batch-size"):
        p.add_argument(flag, type=float if flag == "--clip-seconds" else int, default=None,
                       help="as lightops train (default: its default)")
    p.add_argument("--train-options", default="", help="more lightops train options for every run, one string")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each")
    p.add_argument("--runs", default=str(ROOT / "runs" / "compare"), help="folder of the training runs")
    p.add_argument("--fresh", action="store_true", help="retrain runs that already finished")
    p.add_argument("--retrain-changed", action="store_true",
                   help="retrain finished runs trained with other lightops code (default: reuse them and say so)")
    p.add_argument("--json", default=None, help="results file (default benchmarks/results/BLOCK.json)")
    p.add_argument("--docs", default=str(ROOT / "docs" / "training.md"), help="page of the block")
    p.add_argument("--block", default=None,
                   help="name of the block in --docs (default compare-recipes; with --from-json, the file's)")
    p.add_argument("--no-docs", action="store_true", help="do not write the docs block")
    p.add_argument("--from-json", default=None, help="re-render the block of an earlier results file, no training")
    return p


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line options of :func:`build_parser`."""
    return build_parser().parse_args(argv)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.=-]+", "_", text.replace("+", "")).strip("_") or "run"


def run_dir(args: argparse.Namespace, job: Job) -> Path:
    """The folder of one run."""
    data = "synthetic" if args.data == "synthetic" else _slug(Path(args.data).name)
    return Path(args.runs) / data / (job.family or "-") / _slug(job.model) / _slug(job.recipe) / f"seed{job.seed}"


def train_command(args: argparse.Namespace, job: Job) -> List[str]:
    """The ``lightops train`` command line of one run."""
    name, kwargs = parse_model(job.model)
    recipe = RECIPES[job.recipe]
    teachers = [str(run_dir(args, t) / "last.pt") for t in teacher_jobs(args, job)]
    cmd = [sys.executable, "-m", "lightops.cli", "train", "--model", name, "--data", args.data,
           "--epochs", str(args.epochs), "--seed", str(job.seed), "--threads", "1", "--quiet",
           "--eval-every", str(args.epochs), "--out", str(run_dir(args, job)), "--overwrite"]
    if kwargs:
        cmd += ["--model-kwargs", json.dumps(kwargs, sort_keys=True)]
    if args.data == "synthetic":
        cmd += ["--num-clips", str(args.clips), "--num-eval-clips", str(args.eval_clips), "--cache"]
    for key in ("clip_seconds", "sample_rate", "n_fft", "hop_length", "n_mels", "batch_size"):
        if getattr(args, key) is not None:
            cmd += ["--" + key.replace("_", "-"), f"{getattr(args, key):g}"]
    cmd += ([] if job.family is None else ["--synthetic-devices", job.family]) + shlex.split(args.train_options)
    return cmd + [t for a in recipe.options for t in (teachers if a == "{teacher}" else [a])]


def teacher_jobs(args: argparse.Namespace, job: Job) -> List[Job]:
    """The teacher runs of ``job``'s recipe: none, the same seed's, or (an ensemble recipe) every seed's."""
    recipe = RECIPES[job.recipe]
    if recipe.teacher is None:
        return []
    return [Job(job.family, *recipe.teacher, s) for s in (args.seeds if recipe.ensemble else [job.seed])]


def current_architecture(model: str) -> Optional[Dict[str, Any]]:
    """The architecture ``model`` (``name[k=v]``) builds today (:func:`lightops._factory.architecture_of`; None for a
    model without a DSSDN configuration): a run is reused only if it was trained with it, so a changed registered
    default is retrained, not reported under the new name."""
    from lightops._factory import architecture_of, build_model

    name, kwargs = parse_model(model)
    return _plain(architecture_of(build_model(name, **kwargs)))


def _plain(value: Any) -> Any:
    """``value`` as JSON stores it (tuples as lists), so that a stored and a built architecture compare equal."""
    return json.loads(json.dumps(value))


def trained_architecture(out: Path, record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The architecture a finished run was trained with: from its ``compare_command.json``, else from the
    ``architecture`` its ``last.pt`` stores (checkpoints written before that key existed give None); read through
    ``DSSDNCfg.from_dict``, so that a field added later with its default compares equal to the network it built."""
    if "architecture" in record:
        return _current_form(record["architecture"])
    ckpt = out / "last.pt"
    if not ckpt.is_file():
        return None
    from lightops.checkpoint import read_checkpoint

    return _current_form(_plain(read_checkpoint(ckpt, trusted=True).get("architecture")))


def _current_form(architecture: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """A stored DSSDN architecture as today's ``DSSDNCfg.to_dict()`` writes it (fields it lacks at their defaults);
    as stored when it does not read as one."""
    if not architecture:
        return architecture
    from lightops.models import DSSDNCfg

    try:
        return _plain(DSSDNCfg.from_dict(architecture).to_dict())
    except (TypeError, ValueError, KeyError):
        return architecture


def code_version(root: Path = ROOT) -> Dict[str, Optional[str]]:
    """The lightops code a run is trained with: ``digest``, the first 12 hex digits of a SHA-256 over every
    ``lightops/**/*.py`` (path and bytes), and ``commit``, the git commit of ``root`` (``+`` when ``lightops/`` has
    uncommitted changes; None outside a git checkout)."""
    h = hashlib.sha256()
    for path in sorted((root / "lightops").rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run(git + ["rev-parse", "--short=7", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "lightops"], capture_output=True, text=True,
                               check=True).stdout.strip()
        commit += "+" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return dict(digest=h.hexdigest()[:12], commit=commit)


def code_label(code: Optional[Dict[str, Optional[str]]]) -> str:
    """How a docs block names a run's code: its commit, else its digest, else ``unrecorded``."""
    if not code:
        return "unrecorded"
    return code.get("commit") or f"digest {code['digest']}"


def train_run(args: argparse.Namespace, job: Job) -> Dict[str, Any]:
    """Train one run, or reuse it when its folder holds a ``metrics.json`` of the same command and the same
    architecture (:func:`current_architecture`); its metrics, with ``code``: the :func:`code_version` that trained
    it (None for a run recorded before it was kept). A run of other code is reused and named, or retrained with
    ``--retrain-changed``."""
    out = run_dir(args, job)
    cmd = train_command(args, job)
    metrics, record = out / "metrics.json", out / "compare_command.json"
    architecture = current_architecture(job.model)
    code = code_version()
    old = json.loads(record.read_text()) if record.is_file() else None
    same = old is not None and old["argv"] == cmd[1:]
    if metrics.is_file() and same and not args.fresh:
        changed = (old.get("code") or {}).get("digest") != code["digest"]
        if trained_architecture(out, old) != architecture:
            print(f"  {out}: trained with another architecture of {job.model}; retraining", flush=True)
        elif changed and args.retrain_changed:
            print(f"  {out}: trained with other lightops code ({code_label(old.get('code'))}); retraining",
                  flush=True)
        else:
            if changed:
                print(f"  {out}: reused, trained with other lightops code ({code_label(old.get('code'))}, now "
                      f"{code_label(code)}; --retrain-changed retrains)", flush=True)
            return dict(json.loads(metrics.read_text()), code=old.get("code"))
    elif metrics.is_file() and not args.fresh:
        print(f"  {out}: trained with other options; retraining", flush=True)
    t0 = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not metrics.is_file():
        raise RuntimeError(f"{job} failed ({shlex.join(cmd)}):\n{proc.stderr[-3000:]}")
    record.write_text(json.dumps({"argv": cmd[1:], "architecture": architecture, "code": code}, indent=1) + "\n")
    print(f"  {job.family or '':4} {job.model:<28} {job.recipe:<32} seed {job.seed}: "
          f"{time.perf_counter() - t0:6.0f} s", flush=True)
    return dict(json.loads(metrics.read_text()), code=code)


def plan(args: argparse.Namespace) -> Tuple[List[Job], List[Job]]:
    """The runs to report, and the teacher runs first: (first wave with the teachers, second wave of KD runs)."""
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        raise SystemExit(f"compare: unknown recipes {unknown}; expected some of {list(RECIPES)}")
    if args.device_families and args.data != "synthetic":
        raise SystemExit("compare: --device-families applies to --data synthetic only")
    families: List[Optional[str]] = list(args.device_families or [None])
    jobs = [Job(f, m, r, s) for f in families for m in args.models for r in args.recipes for s in args.seeds]
    kd = [j for j in jobs if RECIPES[j.recipe].teacher is not None]
    teachers = [t for j in kd for t in teacher_jobs(args, j)]
    first = list(dict.fromkeys(teachers + [j for j in jobs if j not in kd]))
    return first, kd


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Train (or reuse) every run; the results dict (rows, command, date, machine)."""
    first, kd = plan(args)
    wanted = set((f, m, r) for f in args.device_families or [None] for m in args.models for r in args.recipes)
    metrics: Dict[Job, Dict[str, Any]] = {}
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for wave in (first, kd):  # the teachers finish before a distilled run starts
            metrics.update(zip(wave, pool.map(lambda j: train_run(args, j), wave)))
    rows = [dict(family=j.family, model=j.model, recipe=j.recipe, seed=j.seed, code=code_label(m.get("code")),
                 **run_row(m)) for j, m in metrics.items() if (j.family, j.model, j.recipe) in wanted]
    return dict(rows=rows, command=shlex.join(["python", "-m", "benchmarks.compare", *(args.argv or [])]),
                date=time.strftime("%Y-%m-%d"),
                machine=f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                        f"{max(1, args.jobs)} run(s) at a time of 1 thread")


def report(args: argparse.Namespace, run_fn: Callable[[argparse.Namespace], Dict[str, Any]],
           render: Callable[[Dict[str, Any]], str], default_block: str) -> int:
    """Run ``run_fn`` (or re-read ``--from-json``), write the results JSON, print ``render``'s block and write it to
    the docs: the ending of this command and of the commands built on it."""
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        args.block = args.block or results.get("block", default_block)
    else:
        args.block = args.block or default_block
        results = dict(run_fn(args), block=args.block)
        args.json = args.json or str(ROOT / "benchmarks" / "results" / f"{args.block}.json")
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    text = render(results)
    print(text)
    if not args.no_docs:
        write_block(args.docs, args.block, text)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run (or re-render) the comparison; print the tables; write the JSON and the docs block."""
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return report(args, run, markdown, "compare-recipes")

if __name__ == "__main__":
    sys.exit(main())
