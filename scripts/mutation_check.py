"""Plant plausible bugs one at a time in a copy of the repository and report which test catches each.

Each mutation replaces one exact code snippet, found by searching ``lightops/**/*.py`` (so it survives files
moving), and runs the tests chosen for it in the copy (``PYTHONPATH`` and the working directory are the copy's, so
the planted ``lightops`` is the one imported: checked). A mutation no test catches is a hole in the suite.

::

    python scripts/mutation_check.py              # every mutation (a few minutes on 2 cores)
    python scripts/mutation_check.py --list       # the list
    python scripts/mutation_check.py --only swap_bands --json results.json

It is not part of ``make test``; docs/testing.md holds its last table.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
IGNORE = shutil.ignore_patterns(".venv", ".git", "runs", "site", "__pycache__", ".pytest_cache", ".hypothesis",
                                ".benchmarks", "*.onnx")


@dataclass(frozen=True)
class Mutation:
    """One planted bug: replace ``old`` (an exact snippet, unique in lightops/) by ``new``; run ``tests``."""

    name: str
    what: str
    old: str
    new: str
    tests: Tuple[str, ...]


MUTATIONS: List[Mutation] = [
    Mutation("swap_bands", "low and high bands swapped in the frequency split (deep path fed the top bins)",
             "    return x[:, :, :f_low], x[:, :, f_low:]",
             "    return x[:, :, x.shape[2] - f_low:], x[:, :, :x.shape[2] - f_low]",
             ("tests/blocks", "tests/stems", "tests/models/test_behaviour.py")),
    Mutation("no_ortho_penalty", "the OSC penalty removed from the training step",
             "        return ortho_reg_loss(batch.model, self.alpha)",
             "        return 0.0 * ortho_reg_loss(batch.model, self.alpha)", ("tests/train/test_ortho_penalty.py",)),
    Mutation("spc_split_from_out", "SPC's split size computed from out_chs instead of in_chs",
             "self.part_chs = math.ceil(self.ratio * self.in_chs)",
             "self.part_chs = math.ceil(self.ratio * self.out_chs)",
             ("tests/ops/test_behaviour.py",)),
    Mutation("mixup_never_mixes", "a mixup that never mixes",
             "    x_mixed = lam * x + (1.0 - lam) * x[perm]  # (B, ...)", "    x_mixed = x  # (B, ...)",
             ("tests/audio/test_mixup_behaviour.py",)),
    Mutation("act_ignored", "an act_layer that is ignored by the operators",
             "        self.act = create_act_layer(act_layer) if act_layer is not None else nn.Identity()",
             "        self.act = create_act_layer('relu') if act_layer is not None else nn.Identity()",
             ("tests/ops/test_behaviour.py",)),
    Mutation("mixup_targets_unmixed", "mixup mixes the inputs but not the targets",
             "    y_soft = lam * soft + (1.0 - lam) * soft[perm]  # (B, K)", "    y_soft = soft  # (B, K)",
             ("tests/audio/test_mixup_behaviour.py", "tests/audio/test_augment.py")),
    Mutation("kd_temperature_ignored", "distillation without the temperature on the student",
             "    log_student = F.log_softmax(student_logits / temperature, dim=1)",
             "    log_student = F.log_softmax(student_logits, dim=1)", ("tests/train/test_recipe.py",)),
    Mutation("highlow_high_dropped", "the high/low stem's high band replaced by zeros",
             "        return torch.cat([self.low(low), self.high(high)], dim=2)",
             "        return torch.cat([self.low(low), 0 * self.high(high)], dim=2)",
             ("tests/stems", "tests/models/test_behaviour.py")),
    Mutation("dssdb_high_path_dropped", "DSSDB ignores its high path",
             "        return self.pool(self.act(self.attn(y + h)))",
             "        return self.pool(self.act(self.attn(y + 0 * h)))",
             ("tests/blocks",)),
    Mutation("specaug_wrong_axis", "SpecAugment's frequency mask drawn over time",
             "        freq = _band_masks(self.n_freq_masks, self.freq_mask, f, b, device, self.generator)  # (B, F)",
             "        freq = _band_masks(self.n_freq_masks, self.freq_mask, t, b, device, self.generator)[:, :f]",
             ("tests/audio/test_augment.py",)),
    Mutation("freq_mixstyle_no_restyle", "Freq-MixStyle normalises but mixes nothing back",
             "        return x_norm * sig_mix + mu_mix", "        return x_norm * sig + mu",
             ("tests/audio/test_freq_mixstyle.py",)),
    Mutation("dir_never_applied", "device impulse responses never applied",
             "                if rng.random() < self.p else row.detach().cpu() for row in x]",
             "                if rng.random() > 1.0 else row.detach().cpu() for row in x]",
             ("tests/data/test_device_response.py",)),
    Mutation("stream_drops_tail", "streaming forgets the end-aligned last window",
             "        if self._seen and (self._seen < self.window or self._next - self.hop + self.window < "
             "self._seen):",
             "        if self._seen and self._seen < self.window:", ("tests/deploy/test_predict.py",)),
    Mutation("label_smoothing_ignored", "label smoothing ignored by the label loss",
             "nn.CrossEntropyLoss(label_smoothing=label_smoothing)", "nn.CrossEntropyLoss()",
             ("tests/train/test_losses.py",)),
]


def _locate(tree: Path, snippet: str) -> List[Path]:
    return [p for p in sorted((tree / "lightops").rglob("*.py")) if snippet in p.read_text()]


def run_one(m: Mutation, timeout: int = 900) -> Dict[str, object]:
    """Plant ``m`` in a fresh copy, run its tests; return status and the first failing test."""
    with tempfile.TemporaryDirectory(prefix="lightops-mut-") as tmp:
        tree = Path(tmp) / "repo"
        shutil.copytree(ROOT, tree, ignore=IGNORE)
        files = _locate(tree, m.old)
        if len(files) != 1:
            return dict(name=m.name, status="snippet not found" if not files else "snippet not unique", test=None)
        text = files[0].read_text()
        if text.count(m.old) != 1:
            return dict(name=m.name, status="snippet not unique", test=None)
        files[0].write_text(text.replace(m.old, m.new))
        env = dict(os.environ, PYTHONPATH=str(tree), HYPOTHESIS_PROFILE="ci")
        probe = subprocess.run([PYTHON, "-c", "import lightops; print(lightops.__file__)"], cwd=tree, env=env,
                               capture_output=True, text=True)
        if not probe.stdout.strip().startswith(str(tree)):
            return dict(name=m.name, status=f"copy not imported ({probe.stdout.strip() or probe.stderr[-200:]})",
                        test=None)
        t0 = time.perf_counter()
        proc = subprocess.run([PYTHON, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:audioeval",
                               *m.tests], cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
        status = "caught" if proc.returncode != 0 else "SURVIVED"
        return dict(name=m.name, status=status, test=failed[0] if failed else None,
                    seconds=round(time.perf_counter() - t0, 1))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the mutations; print the table; exit 1 if any survived or could not be planted."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--only", nargs="+", default=None, help="run these mutations")
    p.add_argument("--json", default=None, help="write the results to this file")
    p.add_argument("--docs", action="store_true", help="write the table into docs/testing.md")
    p.add_argument("--from-json", default=None, help="render the table of an earlier --json file, no mutation run")
    args = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if args.only is None or m.name in args.only]
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:<26} {m.what}  [{', '.join(m.tests)}]")
        return 0
    results = json.loads(Path(args.from_json).read_text()) if args.from_json else []
    for m in ([] if args.from_json else chosen):
        r = run_one(m)
        results.append(dict(r, what=m.what))
        print(f"{m.name}: {r['status']} {r['test'] or ''}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    print(text)
    if args.docs:
        from benchmarks.docs.blocks import write_block

        write_block(str(ROOT / "docs" / "testing.md"), "mutation-table", text)
    return 0 if all(r["status"] == "caught" for r in results) else 1


def table(results: List[Dict[str, object]]) -> str:
    """The Markdown table of the results, with the command and date."""
    caught = sum(r["status"] == "caught" for r in results)
    lines = [f"Command: `python scripts/mutation_check.py --docs` ({time.strftime('%Y-%m-%d')}): {caught} of "
             f"{len(results)} caught.", "", "| mutation | planted bug | result | first test that fails |",
             "|---|---|---|---|"]
    lines += [f"| `{r['name']}` | {r['what']} | {r['status']} | `{r['test'] or ''}` |" for r in results]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
