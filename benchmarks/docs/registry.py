"""Every generated block of the docs, in one registry: its page, the command that writes it, and how it is checked.

Four kinds:

- cheap (``render``): deterministic, computed in seconds (MACs, params, memory, parity errors); ``python -m
  benchmarks.docs`` writes them, ``--check`` and ``tests/test_docs_code.py`` recompute and compare them. Parity
  errors are float rounding residues and may move a little between machines, so a ``tolerant`` block's numbers in
  scientific notation only have to agree within a factor of 2.
- timed (``measure``): minutes to measure and machine-dependent; re-measured only on request (``python -m
  benchmarks.docs --timed NAME``), and each records its command, date and machine.
- written by another command (``command``): a benchmark or a script writes the block when it runs (the ONNX
  Runtime table, the comparisons of trained models, the mutation table); the page names the command.
- kept: hand-written text inside a generated page, kept when the page is regenerated.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

from benchmarks.common import ROOT
from benchmarks.docs import audio, cheap, timed
from benchmarks.docs.blocks import read_block

__all__ = ["Block", "BLOCKS", "cheap_blocks", "timed_blocks", "render", "current", "stale"]

SCI = re.compile(r"\d+(?:\.\d+)?e-?\d+")
DOCS_CMD = "python -m benchmarks.docs"


@dataclass(frozen=True)
class Block:
    """A generated block: its page (relative to the repository) and the command that writes it."""

    page: str
    command: str
    render: Optional[Callable[[], str]] = None  # cheap: the body it should hold now
    measure: Optional[Callable[[str], str]] = None  # timed: measures and returns the body (given the command)
    tolerant: bool = False  # numbers in scientific notation need only agree within a factor of 2
    kept: bool = False  # hand-written, kept by the command that writes the page around it

    @property
    def kind(self) -> str:
        """``cheap``, ``timed``, ``kept`` or ``written`` (by another command)."""
        return "cheap" if self.render else "timed" if self.measure else "kept" if self.kept else "written"


def _cheap(page: str, fn: Callable[[], str], tolerant: bool = False) -> Block:
    return Block(page, DOCS_CMD, render=fn, tolerant=tolerant)


def _timed(page: str, name: str, fn: Callable[[str], str]) -> Block:
    return Block(page, f"{DOCS_CMD} --timed {name}", measure=fn)


BLOCKS: Dict[str, Block] = {
    "ops-reference": _cheap("docs/ops.md", cheap.ops_reference),
    "profile-variants": _cheap("docs/profiling.md", cheap.profile_variants),
    "counter-notes": _cheap("docs/profiling.md", cheap.counter_notes),
    "stem-costs": _cheap("docs/concepts/frequency-splitting.md", cheap.stem_costs),
    "low-band-edge": _cheap("docs/concepts/frequency-splitting.md", cheap.low_band_edge),
    "budget-check": _cheap("docs/guides/budgets.md", cheap.budget_check),
    "budget-shares": _cheap("docs/models.md", cheap.budget_shares),
    "variant-table": _cheap("docs/models.md", cheap.variant_table),
    "fused-macs": _cheap("docs/deploy.md", cheap.fused_macs),
    "librosa-parity": _cheap("docs/audio.md", audio.parity_block, tolerant=True),
    "allocator": _timed("docs/profiling.md", "allocator", timed.allocator_block),
    "synthetic-difficulty": _timed("docs/audio.md", "synthetic-difficulty", timed.synthetic_block),
    "logmel-timing": _timed("docs/audio.md", "logmel-timing", audio.timing_block),
    "ort-bench": Block("docs/deploy.md", "python -m benchmarks.bench_ort"),
    "deploy-table": Block("docs/deploy.md", "python -m benchmarks.docs.deploy_table"),
    "int8-forms": Block("docs/deploy.md", "python -m benchmarks.int8_forms"),
    "spc-forms": Block("docs/deploy.md", "python -m benchmarks.spc_forms"),
    "int8-accuracy": Block("docs/deploy.md", "python -m benchmarks.compare_int8"),
    "runtime-bench-1s": Block("docs/deploy.md", "python -m benchmarks.bench_runtimes"),
    "runtime-bench-10s": Block("docs/deploy.md", "python -m benchmarks.bench_runtimes"),
    "runtime-bench-1s-all-cores": Block("docs/deploy.md", "python -m benchmarks.bench_runtimes"),
    "runtime-bench-10s-all-cores": Block("docs/deploy.md", "python -m benchmarks.bench_runtimes"),
    "compare-recipes": Block("docs/training.md", "python -m benchmarks.compare"),
    "compare-models": Block("docs/training.md", "python -m benchmarks.compare"),
    "dssdn-ablation": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-ablation-eq": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-candidates": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-join": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-folder": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-folder-30-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "device-shift": Block("docs/models.md", "python -m benchmarks.device_shift"),
    "dssdn-split-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-split-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "device-shift-split": Block("docs/models.md", "python -m benchmarks.device_shift"),
    "dssdn-split-folder-30-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "int8-accuracy-split": Block("docs/deploy.md", "python -m benchmarks.compare_int8"),
    "int8-accuracy-split-minmax": Block("docs/deploy.md", "python -m benchmarks.compare_int8"),
    "qat-step": Block("docs/deploy.md", "python -m benchmarks.qat_step"),
    "xnnpack-profile": Block("docs/deploy.md", "python -m benchmarks.xnnpack_profile"),
    "dssdn-clipnorm-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-clipnorm-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-split-synthetic-30-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-probes-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-clipnorm-synthetic-30-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-clipnorm-folder-30-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-tiny-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-tiny-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-tiny-kd-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-tiny-kd-large-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-mixstyle-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-middle-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-large-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-kd-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-kd-ensemble-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-tiny-kd-ensemble-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-synthetic-60-dcase": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-ema-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-adversarial-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-freqmask-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-filteraugment-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-filteraugment-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-field-attn-tau-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-field-attn-eq-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-attn-folder-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "device-ceiling-tau": Block("docs/models.md", "python -m benchmarks.device_ceiling"),
    "device-ceiling-eq": Block("docs/models.md", "python -m benchmarks.device_ceiling"),
    "dssdn-dir-crossfamily-tau": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-dir-crossfamily-eq": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-regularisers-tau-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-droppath-tau-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-freqdsu-synthetic-30": Block("docs/models.md", "python -m benchmarks.compare"),
    "dssdn-adapt-synthetic-30": Block("docs/models.md", "python -m benchmarks.adapt_devices"),
    "dssdn-adapt-folder-30": Block("docs/models.md", "python -m benchmarks.adapt_devices"),
    "dssdn-adapt-folder-listed-30": Block("docs/models.md", "python -m benchmarks.adapt_devices"),
    "int8-pools": Block("docs/deploy.md", "python -m benchmarks.int8_pools"),
    "mutation-table": Block("docs/testing.md", "python scripts/mutation_check.py --docs"),
    "notes": Block("docs/benchmarks.md", "python -m benchmarks.run", kept=True),
}
"""Block name -> :class:`Block`; a block on a page that is not here fails ``tests/test_docs_code.py``."""


def cheap_blocks() -> Dict[str, Block]:
    """The cheap blocks of :data:`BLOCKS`."""
    return {n: b for n, b in BLOCKS.items() if b.kind == "cheap"}


def timed_blocks() -> Dict[str, Block]:
    """The timed blocks of :data:`BLOCKS`."""
    return {n: b for n, b in BLOCKS.items() if b.kind == "timed"}


def render(name: str) -> str:
    """The body the cheap block ``name`` should hold now."""
    return BLOCKS[name].render().strip()


def current(name: str, root: Path = ROOT) -> str:
    """The body of block ``name`` on its page now."""
    return read_block(root / BLOCKS[name].page, name)


def _same(doc: str, fresh: str, tolerant: bool) -> bool:
    if not tolerant:
        return doc == fresh
    if SCI.sub("#", doc) != SCI.sub("#", fresh):
        return False
    for a, b in zip(SCI.findall(doc), SCI.findall(fresh)):
        x, y = float(a), float(b)
        if (x == 0) != (y == 0) or (x and abs(math.log2(x / y)) > 1):
            return False
    return True


def stale(name: str, fresh: Optional[str] = None) -> Optional[str]:
    """None if the cheap block ``name`` is current (holds ``fresh``, by default :func:`render`'s body, or for a tolerant
    block the same within rounding); otherwise what differs, for an error message."""
    block = BLOCKS[name]
    fresh = render(name) if fresh is None else fresh
    try:
        doc = current(name)
    except KeyError as e:
        return str(e)
    if _same(doc, fresh, block.tolerant):
        return None
    return (f"{block.page}: block '{name}' is stale; regenerate with `{DOCS_CMD} --only {name}`\n--- in the page:\n"
            f"{doc}\n--- now:\n{fresh}")
