"""Run every script in examples/ at small sizes, so that the examples never rot."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

# Small sizes per example ("{tmp}" becomes a fresh temporary folder).
ARGS = {
    "custom_net.py": ["--mels", "64", "--frames", "32", "--batch", "1"],
    "custom_operator.py": ["--mels", "64", "--frames", "32"],
    "fit_dcase_budget.py": ["--input", "1,64,32", "--max-macs", "5000000"],
    "train_custom_net.py": ["--clips", "16", "--eval-clips", "8", "--seconds", "1", "--batch-size", "8",
                            "--threads", "1", "--out", "{tmp}"],
}
# A line each example must print, to catch one that silently does nothing.
EXPECT = {
    "custom_net.py": "config -> JSON",
    "custom_operator.py": "fit_budget('dssdn_small', op='my_op')",
    "fit_dcase_budget.py": "WITHIN BUDGET",
    "train_custom_net.py": "predicted",
}


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"custom_net.py", "custom_operator.py", "fit_dcase_budget.py"}
    assert set(ARGS) >= {p.name for p in EXAMPLES}, "give every example small sizes in ARGS"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_has_docstring(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.splitlines()[0]) > 10, f"{path.name}: the module docstring must say what it shows"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    # One intra-op thread: the sizes are tiny and spinning OpenMP threads only compete on a shared machine.
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    args = [a.replace("{tmp}", str(tmp_path)) for a in ARGS.get(path.name, [])]
    proc = subprocess.run([sys.executable, str(path), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert EXPECT.get(path.name, "") in proc.stdout, f"{path.name} printed:\n{proc.stdout[-3000:]}"
