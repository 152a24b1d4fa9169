"""SPC's three inference forms in the runtimes a model ships to: full width, grouped 1x1, partial.

:func:`lightops.deploy.fuse` can deploy every Separable Partial Convolution as ``spc="full"`` (the block-diagonal
full-width 1x1, the default), ``"grouped"`` (:meth:`~lightops.ops.SeparablePartialConv2d.as_grouped`: a quarter of
that 1x1's MACs) or ``"partial"`` (SPC's own split, partial SC and concatenation: the fewest MACs). All three compute
the same logits. For each ``--models`` entry and ``--clips`` length this exports the three fp32 forms to ONNX Runtime
(fixed length) and ExecuTorch (XNNPACK), alternates the three files of a runtime in rounds
(:func:`benchmarks.bench_runtimes.time_alternating`, 1 thread) and gives each form's executed MACs, median time and
median per-round ratio to the full-width form of the same runtime. Writes the docs block ``spc-forms``
(docs/deploy.md). ::

    python -m benchmarks.spc_forms
    python -m benchmarks.spc_forms --models dssdn_tiny --clips 1s --no-docs
"""
from __future__ import annotations

import os
import statistics
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from benchmarks.bench_runtimes import onnx_call, pte_call, time_variants, variant_bench_main
from benchmarks.common import CLIPS, build, machine

__all__ = ["FORMS", "measure", "markdown", "main"]

FORMS = ("full", "grouped", "partial")
"""``fuse(spc=...)`` values, the first the reference of the ratios."""


def _macs(name: str, size: Sequence[int]) -> Dict[str, int]:
    """MACs each SPC form of the model executes on ``(1, *size)`` (counted on the meta device)."""
    from lightops.deploy.fuse import fuse
    from lightops.profiling import profile

    model = build(name)
    return {form: profile(fuse(model, spc=form), tuple(size), device="meta", memory=False).total_macs
            for form in FORMS}


def _calls(name: str, size: Sequence[int], folder: str, threads: int) -> Dict[str, Dict[str, Callable[[], Any]]]:
    """``{runtime: {form: call}}`` of one model at ``(1, *size)``."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy import export_onnx
    from lightops.deploy.executorch import export_executorch

    loaded = LoadedModel(build(name), name=name)
    x = torch.randn(1, *size, generator=torch.Generator().manual_seed(1))
    out: Dict[str, Dict[str, Callable[[], Any]]] = {"onnxruntime": {}, "executorch": {}}
    for form in FORMS:
        onnx = os.path.join(folder, f"{name}_{form}.onnx")
        export_onnx(loaded, onnx, size, static=True, batch_size=1, fuse_kwargs={"spc": form})
        out["onnxruntime"][form] = onnx_call(onnx, x, threads)
        pte = os.path.join(folder, f"{name}_{form}.pte")
        export_executorch(loaded, pte, size, fuse_kwargs={"spc": form})  # fully delegated, or it raises
        out["executorch"][form] = pte_call(pte, x)
    return out


def measure(models: Sequence[str], clips: Sequence[str], rounds: int, runs: Dict[str, int],
            threads: int = 1) -> List[Dict[str, Any]]:
    """One row per (model, clip, runtime, form): ``macs``, ``ms`` and ``ratio_full`` (median per-round ratio to the
    full-width form)."""
    rows, macs = [], {}
    for name, clip, runtime, times in time_variants(models, clips, rounds, runs, _calls, threads):
        if (name, clip) not in macs:
            macs[name, clip] = _macs(name, CLIPS[clip])
        for form in FORMS:
            t, ref = times[form], times["full"]
            rows.append(dict(model=name, clip=clip, runtime=runtime, form=form, macs=macs[name, clip][form],
                             ms=statistics.median(t), ratio_full=statistics.median(a / b for a, b in zip(t, ref))))
    return rows


def markdown(rows: Sequence[Dict[str, Any]], command: str, rounds: int) -> str:
    """The docs block: per model, clip and runtime, each form's executed MACs, ms and ratio to full width."""
    lines = [f"Random weights, fp32, batch 1, 1 thread; medians of {rounds} alternating rounds, `x full` the median "
             f"per-round ratio to the full-width form in the same runtime; MACs are those the form executes "
             f"(`fuse(spc=...)`).", "",
             f"Command: `{command}` ({machine()}).", "",
             "| model | clip | runtime | form | MACs | ms | x full |",
             "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['clip']} | {r['runtime']} | {r['form']} | {r['macs'] / 1e6:.1f} M | "
                     f"{r['ms']:.2f} | {r['ratio_full']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure, print, and write the docs block."""
    return variant_bench_main(argv, "python -m benchmarks.spc_forms", __doc__.split("\n\n")[0], measure, markdown,
                              ["dssdn_small", "dssdn_tiny"], "spc-forms")


if __name__ == "__main__":
    sys.exit(main())
