"""Deployment benchmarks: every DSSDN variant as built, fused, and run by onnxruntime in fp32 and int8.

One group per model and clip (``(1, 256, 44)`` and ``(1, 256, 431)``), batch 1, one thread, reference ``eager``:

- ``eager``: the model as built, eval mode;
- ``fused``: :func:`lightops.deploy.fuse` with its defaults;
- ``fused_cl``: the same with ``channels_last=True`` (the input converted too);
- ``ort_fp32``: the fused model exported to ONNX (dynamo exporter, dynamic time axis: one file for both clips),
  onnxruntime CPU session with one intra-op thread;
- ``ort_int8``: that file quantized by :func:`lightops.deploy.quantize.quantize_onnx` (static, QDQ, per-channel,
  calibrated on 8 batches of synthetic log-mels).

``extra_info`` carries the nominal MACs and params of the model (DCASE convention) and, for fused variants, the
MACs counted on the fused model. Run (about 3 minutes)::

    python -m pytest benchmarks/bench_deploy.py --benchmark-only --benchmark-json=deploy.json
    python -m benchmarks.docs.deploy_table deploy.json --write docs/deploy.md
    python -m benchmarks.bench_deploy --rounds 5   # the interleaved fuse() rewrite study
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import pytest
import torch
import torch.nn as nn

import lightops
from benchmarks.common import CLIPS, build
from lightops.checkpoint import LoadedModel
from lightops.deploy.export import export_onnx
from lightops.deploy.fuse import fuse, inference_params
from lightops.deploy.quantize import calibration_inputs, ort_session, quantize_onnx

MODELS = lightops.list_models()
VARIANTS = ("eager", "fused", "fused_cl", "ort_fp32", "ort_int8")
_CACHE: Dict[Tuple[str, str], Any] = {}

pytest.importorskip("onnxruntime")


def _model(name: str) -> nn.Module:
    if ("model", name) not in _CACHE:
        _CACHE[("model", name)] = build(name)
    return _CACHE[("model", name)]


def _onnx_files(name: str, folder: str) -> Tuple[str, str]:
    """fp32 and int8 ONNX files of ``name`` (exported once per session)."""
    if ("onnx", name) not in _CACHE:
        model = _model(name)
        fp32, int8 = os.path.join(folder, f"{name}.onnx"), os.path.join(folder, f"{name}.int8.onnx")
        export_onnx(model, fp32, CLIPS["1s"])
        batches = calibration_inputs("synthetic", LoadedModel(model), CLIPS["1s"], num_batches=8, batch_size=8)
        quantize_onnx(fp32, int8, batches)
        _CACHE[("onnx", name)] = (fp32, int8)
    return _CACHE[("onnx", name)]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: Any) -> str:
    """Folder of the session's ONNX files."""
    return str(tmp_path_factory.mktemp("deploy_onnx"))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("clip", list(CLIPS))
@pytest.mark.parametrize("name", MODELS)
def test_deploy(bench: Any, onnx_dir: str, name: str, clip: str, variant: str) -> None:
    """Latency of one deployment variant of one model on one clip."""
    size = CLIPS[clip]
    model = _model(name)
    macs, params = model.macs(size), sum(p.numel() for p in model.parameters())
    x = torch.randn(1, *size)
    info: Dict[str, Any] = dict(model=name, clip=clip, variant=variant, input_size=list(size))
    if variant == "eager":
        fn: Any = model
    elif variant in ("fused", "fused_cl"):
        cl = variant == "fused_cl"
        fn = fuse(model, channels_last=cl)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        info.update(macs_counted=fn.macs(size), inference_params=inference_params(fn))
    else:
        fp32, int8 = _onnx_files(name, onnx_dir)
        path = fp32 if variant == "ort_fp32" else int8
        session = ort_session(path)
        input_name = session.get_inputs()[0].name
        info.update(onnx_bytes=os.path.getsize(path))

        def fn(arr: np.ndarray) -> Any:
            return session.run(None, {input_name: arr})

        x = x.numpy()
    bench(fn, x, group=f"deploy {name} {clip}", label=variant, macs=macs, params=params,
          reference=variant == "eager", **info)


# ---- the rewrite study: each fuse() switch against the others, interleaved ---------------------------------------

STUDY = {
    "eager": None,
    "fold": dict(merge_depthwise=False, time_pool=False),
    "fold+dw": dict(time_pool=False),
    "fold+dw+pool": {},
    "fold+dw+cl": dict(channels_last=True),
    "fold+dw+pool+pw": dict(merge_pointwise=True),
}


def study_rewrites(models: Sequence[str] = tuple(MODELS), clips: Sequence[str] = tuple(CLIPS), rounds: int = 5,
                   calls: int = 20) -> List[Dict[str, Any]]:
    """Median latency of every :data:`STUDY` variant, interleaved round by round so that load changes hit all
    variants alike; the figure kept per variant is the lowest median over the rounds.

    Returns:
        One dict per model, clip and variant: ``ms`` and ``ratio`` to eager.
    """
    import statistics
    import time

    from lightops.profiling import configure_malloc

    configure_malloc()
    torch.set_num_threads(1)
    out = []
    for name in models:
        model = _model(name)
        nets = {k: model if kw is None else fuse(model, **kw) for k, kw in STUDY.items()
                if name == "dssdn_middle" or "pw" not in k}
        for clip in clips:
            x = torch.randn(1, *CLIPS[clip])
            n = calls if clip == "1s" else max(3, calls // 4)
            best: Dict[str, float] = {}
            with torch.inference_mode():
                for _ in range(rounds):
                    for k, net in nets.items():
                        xk = x.contiguous(memory_format=torch.channels_last) if "cl" in k else x
                        for _ in range(3):
                            net(xk)
                        times = []
                        for _ in range(n):
                            t0 = time.perf_counter()
                            net(xk)
                            times.append(time.perf_counter() - t0)
                        best[k] = min(best.get(k, float("inf")), statistics.median(times))
            for k, v in best.items():
                out.append(dict(model=name, clip=clip, variant=k, ms=1e3 * v, ratio=v / best["eager"]))
            print(name, clip, "  ".join(f"{k} {1e3 * v:.2f} ms ({v / best['eager']:.2f})" for k, v in best.items()),
                  flush=True)
    return out


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_deploy",
        description="fuse() rewrite study (interleaved); the benchmarks run under pytest")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = study_rewrites(rounds=args.rounds)
    print(f"load average at start {load}, at end {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(rows=rows, load_start=load, load_end=os.getloadavg()), f, indent=1)
