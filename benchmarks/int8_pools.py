"""Average pools in int8 programs: kept as pools, or quantized as the depthwise convolutions they equal.

For each ``--models`` entry and ``--clips`` length: the fp32 files (ONNX Runtime, fixed length; ExecuTorch) and two
PT2E PTQ int8 programs of the ``speed`` form (:func:`lightops.deploy.pt2e.quantize_ptq`, random weights and
calibration: only the speed is measured), one with ``pool_convs=False`` (only the zero-padded pools as
convolutions, which no int8 delegate takes otherwise) and one with every average pool as a depthwise convolution
(:func:`lightops.deploy.executorch.pools_as_convs`, the form's default), each run in ONNX Runtime (its QDQ file) and
ExecuTorch. The three files of a runtime alternate in rounds (:func:`benchmarks.bench_runtimes.time_alternating`,
1 thread); each int8 row gives its median time and its median per-round ratio to the fp32 file of the same runtime.
Writes the docs block ``int8-pools`` (docs/deploy.md). ::

    python -m benchmarks.int8_pools
    python -m benchmarks.int8_pools --models dssdn_large --clips 10s --no-docs
"""
from __future__ import annotations

import os
import statistics
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from benchmarks.bench_runtimes import calibration_batches, onnx_call, pte_call, time_variants, variant_bench_main
from benchmarks.common import build, machine

__all__ = ["VARIANTS", "measure", "markdown", "main"]

VARIANTS = {"pools": False, "convs": True}
"""int8 variant -> ``pool_convs``: ``pools`` keeps unpadded average pools, ``convs`` takes every pool as a
depthwise convolution."""


def _calls(name: str, size: Sequence[int], folder: str, threads: int) -> Dict[str, Dict[str, Callable[[], Any]]]:
    """``{runtime: {"fp32" | variant: call}}`` of one model at ``(1, *size)``."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy import export_onnx
    from lightops.deploy.executorch import export_executorch
    from lightops.deploy.pt2e import quantize_ptq

    loaded = LoadedModel(build(name), name=name)
    x = torch.randn(1, *size, generator=torch.Generator().manual_seed(1))
    models = {"fp32": loaded}
    for variant, convs in VARIANTS.items():
        q = quantize_ptq(loaded, calibration_batches(size), size, form="speed", pool_convs=convs)
        models[variant] = LoadedModel(q, name=name, input_size=tuple(size))
    out: Dict[str, Dict[str, Callable[[], Any]]] = {"onnxruntime": {}, "executorch": {}}
    for key, model in models.items():
        onnx = os.path.join(folder, f"{name}_{key}.onnx")
        if key == "fp32":
            export_onnx(model, onnx, size, static=True, batch_size=1)
        else:
            export_onnx(model, onnx)
        out["onnxruntime"][key] = onnx_call(onnx, x, threads)
        pte = os.path.join(folder, f"{name}_{key}.pte")
        export_executorch(model, pte, size)  # refuses portable kernels: every variant is fully delegated
        out["executorch"][key] = pte_call(pte, x)
    return out


def measure(models: Sequence[str], clips: Sequence[str], rounds: int, runs: Dict[str, int],
            threads: int = 1) -> List[Dict[str, Any]]:
    """One row per (model, clip, runtime, int8 variant): ``ms``, ``fp32_ms`` and ``ratio_fp32`` (median per-round
    ratio)."""
    rows = []
    for name, clip, runtime, times in time_variants(models, clips, rounds, runs, _calls, threads):
        for variant in VARIANTS:
            t, ref = times[variant], times["fp32"]
            rows.append(dict(model=name, clip=clip, runtime=runtime, variant=variant, ms=statistics.median(t),
                             fp32_ms=statistics.median(ref),
                             ratio_fp32=statistics.median(a / b for a, b in zip(t, ref))))
    return rows


def markdown(rows: Sequence[Dict[str, Any]], command: str, rounds: int) -> str:
    """The docs block: per model, clip and runtime, fp32 ms and both int8 variants (ms, x fp32)."""
    lines = [f"Random weights, PT2E PTQ of the `speed` form, batch 1, 1 thread; medians of {rounds} alternating "
             f"rounds, `x fp32` the median per-round ratio to the fp32 file of the same runtime. `pools`: unpadded "
             f"average pools kept (`pool_convs=False`); `convs`: every average pool a depthwise convolution (the "
             f"default).", "",
             f"Command: `{command}` ({machine()}).", "",
             "| model | clip | runtime | fp32 ms | int8 pools ms | x fp32 | int8 convs ms | x fp32 |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    keyed = {(r["model"], r["clip"], r["runtime"], r["variant"]): r for r in rows}
    for (model, clip, runtime, variant), r in keyed.items():
        if variant != "pools":
            continue
        c = keyed[(model, clip, runtime, "convs")]
        lines.append(f"| {model} | {clip} | {runtime} | {r['fp32_ms']:.2f} | {r['ms']:.2f} | {r['ratio_fp32']:.2f} | "
                     f"{c['ms']:.2f} | {c['ratio_fp32']:.2f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure, print, and write the docs block."""
    return variant_bench_main(argv, "python -m benchmarks.int8_pools", __doc__.split("\n\n")[0], measure, markdown,
                              ["dssdn_small", "dssdn_large", "dcase2025_baseline"], "int8-pools")


if __name__ == "__main__":
    sys.exit(main())
