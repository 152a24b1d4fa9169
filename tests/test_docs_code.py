"""The figures of the docs come from code: every generated block is current, and every block has a generator.

``benchmarks/docs_figures.py`` writes the cheap blocks (MACs, params, memory, parity errors) between
``<!-- BEGIN name -->`` and ``<!-- END name -->``; here each is recomputed and compared with its page. Timed blocks
(latencies, trained baselines) are not re-measured: they only have to name the command that wrote them. The code
blocks of the pages themselves run in ``tests/test_docs_build.py``.
"""
import importlib.util
import re
from pathlib import Path

import pytest

from benchmarks import docs_figures

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- BEGIN ([\w-]+) -->$", re.M)
# Blocks written by other scripts: name -> the script named in the page next to it.
OTHER_WRITERS = {"mutation-table": "scripts/mutation_check.py", "ort-bench": "benchmarks/bench_ort.py",
                 "compare-recipes": "python -m benchmarks.compare", "compare-models": "python -m benchmarks.compare"}
SLOW = {"librosa-parity", "profile-variants", "counter-notes"}  # each takes 5-20 s on a shared 2-core machine


def _pages():
    return sorted(ROOT.glob("docs/**/*.md")) + [ROOT / "README.md"]


def _needs(name):
    if name != "librosa-parity":
        return None
    for module in ("librosa", "soundfile", "pytest_audioeval"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the parity table needs it)"
    return None


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else [])
                                  for n in docs_figures.CHEAP])
def test_generated_block_is_current(name):
    reason = _needs(name)
    if reason:
        pytest.skip(reason)
    problem = docs_figures.stale(name)
    assert problem is None, problem


def test_every_block_in_the_docs_has_a_generator():
    known = set(docs_figures.CHEAP) | set(docs_figures.TIMED) | set(OTHER_WRITERS)
    found = {}
    for page in _pages():
        text = page.read_text()
        for name in MARKER.findall(text):
            assert f"<!-- END {name} -->" in text, f"{page}: <!-- BEGIN {name} --> has no END marker"
            found[name] = page
    unknown = {n: str(p.relative_to(ROOT)) for n, p in found.items() if n not in known}
    assert not unknown, f"generated blocks nobody writes: {unknown}"
    for name, block in docs_figures.CHEAP.items():
        assert found.get(name) == ROOT / block.page, f"block '{name}' is not on {block.page}"
    for name, (page, _) in docs_figures.TIMED.items():
        assert found.get(name) == ROOT / page, f"block '{name}' is not on {page}"


@pytest.mark.parametrize("name", list(docs_figures.TIMED))
def test_timed_blocks_name_their_command(name):
    page, _ = docs_figures.TIMED[name]
    text = docs_figures.current(page, name)
    command = f"python benchmarks/docs_figures.py --timed {name}"
    assert command in text, f"{page}: block '{name}' does not name `{command}`"


def test_tolerant_comparison_accepts_rounding_and_rejects_real_changes():
    doc = "| sweep | defaults | 4.9e-6 |\n| speech | 27 files | 1.1e-5 |"
    assert docs_figures._same(doc, doc.replace("4.9e-6", "6.1e-6"), tolerant=True)
    assert not docs_figures._same(doc, doc.replace("4.9e-6", "2.0e-5"), tolerant=True)  # 4x: not rounding
    assert not docs_figures._same(doc, doc.replace("27 files", "26 files"), tolerant=True)  # counts are exact
    assert not docs_figures._same(doc, doc.replace("4.9e-6", "6.1e-6"), tolerant=False)
