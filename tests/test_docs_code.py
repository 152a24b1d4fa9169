"""The figures of the docs come from code: every generated block is current, and every block has a writer.

Every block (the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``) is named in one registry,
:data:`benchmarks.docs.registry.BLOCKS`, with its page and the command that writes it. Cheap blocks (MACs, params,
memory, parity errors) are recomputed here and compared with their page; timed blocks (latencies, trained
baselines) are not re-measured: they only have to name the command that wrote them; the page of a block that
another command writes names that command. The code blocks of the pages themselves run in
``tests/test_docs_build.py``.
"""
import importlib.util
from pathlib import Path

import pytest

from benchmarks.docs import registry
from benchmarks.docs.blocks import find_blocks, markers

ROOT = Path(__file__).resolve().parents[1]
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
                                  for n in registry.cheap_blocks()])
def test_generated_block_is_current(name):
    reason = _needs(name)
    if reason:
        pytest.skip(reason)
    problem = registry.stale(name)
    assert problem is None, problem


def test_every_block_in_the_docs_is_in_the_registry_and_on_its_page():
    found = {}
    for page in _pages():
        text = page.read_text()
        for name in find_blocks(text):
            assert markers(name)[1] in text, f"{page}: {markers(name)[0]} has no END marker"
            assert name not in found, f"block '{name}' is on {found[name]} and {page}"
            found[name] = page
    unknown = {n: str(p.relative_to(ROOT)) for n, p in found.items() if n not in registry.BLOCKS}
    assert not unknown, f"generated blocks nobody writes (add them to benchmarks/docs/registry.py): {unknown}"
    for name, block in registry.BLOCKS.items():
        assert found.get(name) == ROOT / block.page, f"block '{name}' is not on {block.page}"


@pytest.mark.parametrize("name", [n for n, b in registry.BLOCKS.items() if not b.kept])
def test_blocks_name_their_command(name):
    block = registry.BLOCKS[name]
    where = registry.current(name) if block.kind == "timed" else (ROOT / block.page).read_text()
    assert block.command in where, f"{block.page}: block '{name}' does not name `{block.command}`"


def test_tolerant_comparison_accepts_rounding_and_rejects_real_changes():
    doc = "| sweep | defaults | 4.9e-6 |\n| speech | 27 files | 1.1e-5 |"
    assert registry._same(doc, doc.replace("4.9e-6", "6.1e-6"), tolerant=True)
    assert not registry._same(doc, doc.replace("4.9e-6", "2.0e-5"), tolerant=True)  # 4x: not rounding
    assert not registry._same(doc, doc.replace("27 files", "26 files"), tolerant=True)  # counts are exact
    assert not registry._same(doc, doc.replace("4.9e-6", "6.1e-6"), tolerant=False)


@pytest.mark.parametrize("factor,written", [(1.3, False), (4.0, True)])
def test_writing_leaves_a_tolerant_block_whose_residues_only_moved(monkeypatch, factor, written):
    """``python -m benchmarks.docs`` rewrites a tolerant block only for a real change, not for rounding noise."""
    import dataclasses

    from benchmarks.docs import __main__ as docs_main

    name = "librosa-parity"
    doc = registry.current(name)
    first = registry.SCI.findall(doc)[0]
    fresh = doc.replace(first, f"{float(first) * factor:.1e}", 1)
    monkeypatch.setitem(registry.BLOCKS, name, dataclasses.replace(registry.BLOCKS[name], render=lambda: fresh))
    calls = []
    monkeypatch.setattr(docs_main, "write_block", lambda page, block, text: calls.append((block, text)))
    assert docs_main.main(["--only", name]) == 0
    assert calls == ([(name, fresh)] if written else [])
