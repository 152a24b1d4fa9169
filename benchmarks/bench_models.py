"""Model benchmarks: every DSSDN variant against timm's MobileNetV3-Small (x0.5, x1.0) on 1-s and 10-s clips.

One group per clip (``(1, 256, 44)`` and ``(1, 256, 431)``), reference ``mobilenetv3_small_050`` in eager mode.
Deployment modes, each applied the same way to every model it fits:

- ``eager``: the module as built (eval mode);
- ``fused``: ``lightops.deploy.fuse(model)`` (DSSDN only; BatchNorm folding, depthwise pairs merged, ...);
- ``frozen``: ``torch.jit.freeze(torch.jit.trace(m))`` of the fused DSSDN or of the MobileNet (freezing folds
  the MobileNet's BatchNorms too), which removes Python's per-layer overhead.

Study groups (``study: model``; not in the quick run) try channels-last memory, ``optimize_for_inference``,
oneDNN switched off, and ``torch.compile`` (inductor, with its compile time) on each model at its stated clip.

MACs are the models' own (``DSSDN.macs``) or counted by :func:`lightops.profiling.profile` (MobileNet), the same
for every mode of a model.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

import lightops
from benchmarks.common import CLIPS, build, stated_clip
from benchmarks.timing import QUICK, interleaved_ratio
from lightops.ops import SeparablePartialConv2d
from lightops.profiling import profile

PEER_MODELS = ("mobilenetv3_small_050", "mobilenetv3_small_100")
REFERENCE_MODEL = "mobilenetv3_small_050"
MODELS = list(lightops.list_models()) + list(PEER_MODELS)
_COUNTS: Dict[Tuple[str, Tuple[int, int, int]], Tuple[int, int]] = {}


SPC_WIDEN_MAX_EXTRA_MACS = 1_000_000  # measured break-even of study: spc (full-width SC against fused SPC)


def widen_spc(model: nn.Module, input_size: Tuple[int, int, int],
              max_extra_macs: int = SPC_WIDEN_MAX_EXTRA_MACS) -> nn.Module:
    """Replace, in place, each fused SPC without projection whose full-width form costs at most ``max_extra_macs``
    more MACs on ``input_size`` (``(C^2 - Cp^2 + 9 (C - Cp)) F T``) by that form (``SPC.as_full_width()``)."""
    sizes: Dict[int, Tuple[int, ...]] = {}

    def _record(mod: nn.Module, args: Tuple[torch.Tensor, ...]) -> None:
        sizes.setdefault(id(mod), tuple(args[0].shape[1:]))

    hooks = [m.register_forward_pre_hook(_record) for m in model.modules() if isinstance(m, SeparablePartialConv2d)]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, *input_size))
    finally:
        for h in hooks:
            h.remove()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, SeparablePartialConv2d) or id(child) not in sizes:
                continue
            if isinstance(child.proj, nn.Conv2d) or child.stride != (1, 1) or child.rest_chs == 0 \
                    or not isinstance(child.norm, nn.Identity):
                continue
            c, f, t = sizes[id(child)]
            cp = child.part_chs
            if (c * c - cp * cp + 9 * (c - cp)) * f * t <= max_extra_macs:
                setattr(parent, name, child.as_full_width().eval())
    return model


def counts(name: str, model: nn.Module, size: Tuple[int, int, int]) -> Tuple[int, int]:
    """``(MACs, params)`` of ``model`` on ``size``, cached per model name."""
    key = (name, size)
    if key not in _COUNTS:
        if hasattr(model, "macs"):
            macs = model.macs(size)
        else:
            macs = profile(model, size, memory=False).total_macs
        _COUNTS[key] = (int(macs), sum(p.numel() for p in model.parameters() if p.requires_grad))
    return _COUNTS[key]


def freeze(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """``torch.jit.freeze(torch.jit.trace(model, x))`` in eval mode (tracer warnings silenced)."""
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        return torch.jit.freeze(torch.jit.trace(model.eval(), x, check_trace=False).eval())


def deploy(name: str, model: nn.Module, mode: str, x: torch.Tensor, fuse: Callable[..., nn.Module]) -> nn.Module:
    """``model`` rewritten for ``mode``.

    Modes: ``eager``, ``eager_cl`` (channels-last), ``fused`` (DSSDN only), ``fused_cl`` (``fuse(...,
    channels_last=True)``), ``frozen`` (traced and frozen TorchScript of the fused DSSDN or of the model),
    ``frozen_cl``, ``ofi`` (``optimize_for_inference`` of the frozen module), ``mkldnn_off`` (as ``fused``/``eager``;
    the caller switches oneDNN off); ``spcw_<mode>``: ``<mode>`` with small SPCs rewritten at full width
    (:func:`widen_spc`).
    """
    dssdn = lightops.is_lightops_model(name)
    if dssdn and mode != "eager":
        base = fuse(model, channels_last=mode.endswith("_cl"))
    else:
        base = model.to(memory_format=torch.channels_last) if mode.endswith("_cl") else model
    if mode.startswith("spcw_"):  # SPC rewritten at full width where that is cheaper
        base, mode = widen_spc(base, tuple(x.shape[1:])), mode.removeprefix("spcw_")
        if mode.endswith("_cl"):
            base = base.to(memory_format=torch.channels_last)
    if mode in ("eager", "fused", "mkldnn_off", "fused_cl", "eager_cl"):
        return base
    if mode in ("frozen", "frozen_cl"):
        return freeze(base, x)
    if mode == "ofi":
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            return torch.jit.optimize_for_inference(freeze(base, x))
    raise ValueError(f"unknown mode {mode!r}")


def _input(size: Tuple[int, int, int], mode: str) -> torch.Tensor:
    x = torch.randn(1, *size)
    return x.contiguous(memory_format=torch.channels_last) if mode.endswith("_cl") else x


def _check(reference: nn.Module, run: Callable, x: torch.Tensor) -> None:
    with torch.inference_mode():
        ya, yb = reference(x.contiguous()), run(x)
    err = (ya - yb).abs().max().item() / (ya.abs().max().item() + 1e-6)
    assert err < 1e-3, f"deployed model differs from the eager one: max relative error {err:.2e}"


def _cases() -> List[Tuple[str, str, str]]:
    cases = []
    for clip in CLIPS:
        for name in MODELS:
            if QUICK and clip != stated_clip(name) and name != REFERENCE_MODEL:
                continue
            modes = ("eager", "fused", "frozen") if lightops.is_lightops_model(name) else ("eager", "frozen")
            cases += [(name, clip, mode) for mode in modes]
    return cases


CASES = _cases()
LABELS = {
    "eager": "", "eager_cl": " (channels-last)", "fused": " (fused)", "frozen": " (frozen)",
    "fused_cl": " (fused, channels-last)", "frozen_cl": " (frozen, channels-last)", "ofi": " (optimize_for_inference)",
    "mkldnn_off": " (oneDNN off)", "compiled": " (torch.compile)",
    "spcw_fused": " (fused, full-width small SPC)", "spcw_frozen_cl": " (frozen, channels-last, full-width small SPC)",
}


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_model(bench, fuse, case: Tuple[str, str, str]) -> None:
    """One model, one clip, one deployment mode; reference: ``mobilenetv3_small_050`` eager."""
    name, clip, mode = case
    size = CLIPS[clip]
    model = build(name)
    x = _input(size, mode)
    run = deploy(name, model, mode, x, fuse)
    if mode != "eager":
        _check(model, run, x)
    macs, params = counts(name, model, size)
    bench(run, x, group=f"model {clip} {size}", label=name + LABELS[mode], macs=macs, params=params,
          reference=name == REFERENCE_MODEL and mode == "eager", kind="model", model=name, mode=mode, clip=clip,
          shape=list(size), stated_clip=stated_clip(name) == clip)


STUDY_MODES = ("fused_cl", "frozen", "frozen_cl", "ofi", "mkldnn_off", "spcw_fused", "spcw_frozen_cl", "compiled")


def _study_cases() -> List[Tuple[str, str]]:
    """Each model but the x1.0 MobileNet, at its stated clip: the reference mode, then :data:`STUDY_MODES`."""
    if QUICK:
        return []
    cases = []
    for name in MODELS:
        if name == "mobilenetv3_small_100":
            continue
        dssdn = lightops.is_lightops_model(name)
        first = "fused" if dssdn else "eager"
        modes = [m if dssdn else m.replace("fused", "eager") for m in STUDY_MODES
                 if name == "dssdn_small" or "spcw" not in m]
        cases += [(name, m) for m in [first] + modes]
    return cases


STUDY_CASES = _study_cases()


@pytest.mark.parametrize("case", STUDY_CASES, ids=["-".join(c) for c in STUDY_CASES])
def test_study_model(bench, fuse, case: Tuple[str, str]) -> None:
    """Deployment options on each model at its stated clip; reference: ``fused`` (DSSDN) or ``eager`` (MobileNet)."""
    name, mode = case
    clip = stated_clip(name)
    size = CLIPS[clip]
    model = build(name)
    x = _input(size, mode)
    info: Dict[str, Any] = {}
    if mode == "compiled":
        import torch._inductor.config as inductor_config

        torch._dynamo.reset()
        inductor_config.freezing = True  # weights as constants: BatchNorm folding and prepacked oneDNN kernels
        run = torch.compile(fuse(model) if lightops.is_lightops_model(name) else model, dynamic=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            run(x)
        info["compile_s"] = time.perf_counter() - t0
    else:
        run = deploy(name, model, mode, x, fuse)
    _check(model, run, x)
    macs, params = counts(name, model, size)
    old = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = mode != "mkldnn_off"
    try:
        bench(run, x, group=f"study: model {name} {clip}", label=name + LABELS[mode], macs=macs, params=params,
              reference=mode in ("fused", "eager"), kind="study", study="model", model=name, mode=mode, clip=clip,
              shape=list(size), **info)
    finally:
        torch.backends.mkldnn.enabled = old


def _pool_shapes() -> List[Tuple[int, int, int]]:
    """``(C, F, T)`` entering each time-pooling DSSDB output (every variant, both clips; quick: two)."""
    shapes = []
    for name in lightops.list_models():
        model = build(name)
        for size in CLIPS.values():
            stages = model.stage_sizes(size)
            for i, blk in enumerate(model.blocks):
                if blk.time_pool == 2:
                    c, f, _ = blk.output_size(stages[i])
                    shapes.append((c, f, stages[i][2]))
    shapes = sorted(set(shapes), key=lambda s: -s[0] * s[1] * s[2])
    return [shapes[0], shapes[-1]] if QUICK else shapes[::2]


POOL_SHAPES = _pool_shapes()


@pytest.mark.parametrize("size", POOL_SHAPES, ids=["x".join(map(str, s)) for s in POOL_SHAPES])
@pytest.mark.parametrize("impl", ["AvgPool2d", "AvgPool2d, channels-last", "strided add"])
def test_study_time_pool(bench, fuse, size: Tuple[int, int, int], impl: str) -> None:
    """DSSDB's output pooling over time: ``nn.AvgPool2d((1, 2), ceil_mode=True)`` against fuse()'s strided add."""
    from lightops.deploy.fuse import TimeAvgPool2

    x = torch.randn(1, *size)
    pool = nn.AvgPool2d((1, 2), ceil_mode=True)
    run: nn.Module = TimeAvgPool2() if impl == "strided add" else pool
    if impl.endswith("channels-last"):
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.equal(run(x), pool(x.contiguous())), "strided pooling differs from AvgPool2d"  # bit for bit
    c, f, t = size
    bench(run, x, group=f"study: time pool {c}x{f}x{t}", label=impl, macs=0, params=0,
          reference=impl == "AvgPool2d", kind="study", study="time_pool", shape=list(size))


# ---- interleaved ratios for the target dssdn_small < mobilenetv3_small_050 on a 1-s clip -------------------------

MODEL_PAIRS = [(("dssdn_small", m), (REFERENCE_MODEL, "eager")) for m in ("eager", "fused", "frozen", "frozen_cl")] + [
    (("dssdn_small", m), (REFERENCE_MODEL, m)) for m in ("frozen", "frozen_cl")] + [
    (("dssdn_small", m), ("dssdn_small", b)) for m, b in (("spcw_fused", "fused"), ("spcw_frozen_cl", "frozen_cl"),
                                                          ("frozen_cl", "fused"))]


@pytest.mark.parametrize("pair", MODEL_PAIRS, ids=[f"{a[0]}-{a[1]}-vs-{b[0]}-{b[1]}" for a, b in MODEL_PAIRS])
def test_pairs_model(fuse, pairs, pair) -> None:
    """dssdn_small against the reference MobileNet on a 1-s clip, timed in alternation."""
    (na, mode_a), (nb, mode_b) = pair
    size = CLIPS["1s"]
    xa, xb = _input(size, mode_a), _input(size, mode_b)
    a = deploy(na, build(na), mode_a, xa, fuse)
    b = deploy(nb, build(nb), mode_b, xb, fuse)
    res = interleaved_ratio(a, xa, b, xb, round_time=0.05)
    pairs.append(dict(kind="model", group="model 1s", a=na, a_mode=mode_a, b=nb, b_mode=mode_b,
                      goal=1.0 if nb == REFERENCE_MODEL else math.inf, clip="1s", **res))
