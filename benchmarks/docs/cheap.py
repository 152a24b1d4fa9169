"""The cheap blocks of the docs: counts, memory and formulas, deterministic and computed in seconds.

Each function returns the body of one block (:mod:`benchmarks.docs.registry` names its page);
``tests/test_docs_code.py`` recomputes every one and compares it with its page.
"""
from __future__ import annotations

from benchmarks.common import CLIPS, stated_input
from benchmarks.docs.blocks import wrap

__all__ = ["ops_reference", "profile_variants", "counter_notes", "stem_costs", "low_band_edge", "budget_check",
           "budget_shares", "variant_table", "fused_macs"]


def ops_reference() -> str:
    """docs/ops.md: params and MACs of SC, OSC and SPC 64 -> 64 on (64, 64, 108), and a dense 3x3 for scale."""
    import torch.nn as nn

    import lightops
    from lightops.profiling import profile

    size = (64, 64, 108)
    lines = ["| op | class | params | MACs |", "|---|---|---:|---:|"]
    for name in ("sc", "osc", "spc"):
        op = lightops.create_op(name, 64, 64)
        lines.append(f"| {name} | `{type(op).__name__}` | {op.params():,} | {op.macs(size):,} |")
    dense = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    macs = profile(dense, size, memory=False).total_macs
    params = sum(p.numel() for p in dense.parameters())
    return "\n".join(lines + ["", wrap(f"For comparison, a dense 3x3 convolution 64 -> 64 (no bias) costs {params:,} "
                                      f"params and {macs:,} MACs on the same input.")])


def _variant_inputs():
    """Each DSSDN variant and the input its budget is stated on."""
    import lightops

    return [(name, stated_input(name)) for name in lightops.list_models()]


def profile_variants() -> str:
    """docs/profiling.md: MACs, params, INT8 parameter memory and measured peak activations of the variants."""
    import torch

    import lightops
    from lightops.profiling import profile

    torch.manual_seed(0)
    lines = ["| model | input | MACs | params | param memory (int8) | peak activations (fp32) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, size in _variant_inputs():
        p = profile(lightops.create_model(name), size)
        lines.append(f"| {name} | {size} | {p.total_macs:,} | {p.total_params:,} | "
                     f"{p.param_memory.int8_bytes / 1e3:.1f} kB | {p.peak_activation_bytes / 1e6:.1f} MB |")
    return "\n".join(lines)


def _counter_macs(module, x, warm: bool) -> int:
    import torch
    from torch.nn.utils import parametrize
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), parametrize.cached():
        if warm:
            module(x)  # fills the cache of the parametrized weight before counting
        with FlopCounterMode(display=False) as counter:
            module(x)
    return counter.get_total_flops() // 2


def counter_notes() -> str:
    """docs/profiling.md: what the orthogonal map adds to FlopCounterMode, and torchinfo's excess on the models."""
    import torch
    import torch.nn as nn
    import torchinfo

    import lightops

    torch.manual_seed(0)
    size = (64, 64, 108)
    osc = lightops.OSC(64, 64, orthogonal="exact").eval()
    x = torch.randn(1, *size)
    extra = _counter_macs(osc, x, warm=False) - _counter_macs(osc, x, warm=True)
    if _counter_macs(osc, x, warm=True) != osc.macs(size):
        raise RuntimeError("FlopCounterMode disagrees with OSC's formula with the parametrization cached")
    parts = []
    for name, _ in _variant_inputs():
        model = lightops.create_model(name).eval()
        if any(nn.utils.parametrize.is_parametrized(m) for m in model.modules()):
            continue
        excess = torchinfo.summary(model, input_size=(1, *CLIPS["1s"]), verbose=0).total_mult_adds - model.macs(
            CLIPS["1s"])
        norms = sum(2 * m.num_features for m in model.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine)
        biases = [m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
                  and m.bias is not None]
        if biases != [model.get_classifier()] or excess != norms + model.num_classes:
            raise RuntimeError(f"{name}: torchinfo's excess {excess:,} is not 2 C per norm plus the classifier bias")
        parts.append(f"`+ {excess:,}` for {name}")
    return "\n\n".join([
        wrap(f"Uncached, `FlopCounterMode` also counts the orthogonal map: `+ {extra:,}` MACs for an exact OSC "
             f"64 -> 64 on {size} (its `macs` formula and the cached count give {osc.macs(size):,})."),
        wrap(f"On the models, torchinfo's excess is exactly the BatchNorm and bias terms: {', '.join(parts)} at batch "
             "1 on a 1-s clip (`2 C` for each BatchNorm, `+ 10` for the classifier bias; the excess does not depend on "
             "the clip length).")])


STEM_WHAT = {
    "conv": "full-band 3x3 convolution, stride `s` (the reference)",
    "highlow": "3x3 stride-`s` conv on the low band; the high band average-pooled `s x s` then a 1x1 conv (1/9 of "
               "the cost per output bin); stacked on frequency, low first",
    "cut": "keep only the lowest `ceil(keep * F)` bins, then the 3x3 conv",
}


def stem_costs() -> str:
    """docs/concepts/frequency-splitting.md: output and MACs of each stem on a 1-s clip, 24 channels, stride 2."""
    from lightops.stems import create_stem

    size = CLIPS["1s"]
    lines = ["| kind | what it does | output | MACs |", "|---|---|---|---:|"]
    for kind, what in STEM_WHAT.items():
        stem = create_stem(kind, 1, 24)
        lines.append(f"| `\"{kind}\"` | {what} | `{tuple(stem.output_size(size))}` | {stem.macs(size):,} |")
    return "\n".join(lines)


def low_band_edge() -> str:
    """docs/concepts/frequency-splitting.md: where the low half of the default mel bins ends, in Hz."""
    import numpy as np

    import lightops
    from lightops.audio import hz_to_mel, mel_to_hz

    cfg = lightops.create_model("dssdn_small").pretrained_cfg
    sr, n_mels = cfg["sample_rate"], cfg["n_mels"]
    pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))  # edges and centres of the bands
    half = n_mels // 2
    return wrap(f"With {n_mels} Slaney mel bins at {sr / 1000:g} kHz the low half of the bins (the first {half}) "
                f"has its last band centred at {pts[half] / 1000:.2f} kHz and ending at {pts[half + 1] / 1000:.2f} "
                f"kHz, so block 1's operators run on 0-{pts[half + 1] / 1000:.1f} kHz.")


def budget_check() -> str:
    """docs/guides/budgets.md: what the check prints for DSSDN-Small, and what fitting it to the DCASE limits gives."""
    import lightops
    from lightops.profiling import BUDGETS, check_budget, fit_budget

    check = check_budget(lightops.create_model("dssdn_small"), BUDGETS["dssdn_small"])
    fit = fit_budget("dssdn_small")
    c = fit.check
    return "\n".join([
        "`print(check)` gives", "", "```", str(check), "```", "",
        wrap(f"and `fit_budget(\"dssdn_small\")` returns width {fit.width:.3f}: {c.params:,} params "
             f"({100 * c.params / c.budget.max_params:.1f} % of {c.budget.max_params:,}) and {c.macs:,} MACs "
             f"({100 * c.macs / c.budget.max_macs:.1f} % of {c.budget.max_macs:,}) on a 1-s clip: DSSDN-Small "
             f"{'has headroom' if fit.width > 1 else 'is at its limit'}, and the "
             f"{'parameter' if c.params / c.budget.max_params > c.macs / c.budget.max_macs else 'MAC'} limit binds "
             "first.")])


def budget_shares() -> str:
    """docs/models.md: the share of its budget each variant uses."""
    import lightops
    from lightops.profiling import BUDGETS, check_budget

    parts = []
    for name in lightops.list_models():
        c = check_budget(lightops.create_model(name), BUDGETS[name])
        parts.append(f"{name} {100 * c.params / c.budget.max_params:.1f} % of its parameters and "
                     f"{100 * c.macs / c.budget.max_macs:.1f} % of its MACs")
    return wrap("Shares of the budgets (written by `python -m benchmarks.docs`; a test checks them): "
                + "; ".join(parts) + ".")


def variant_table() -> str:
    """docs/models.md: the registered DSSDN variants as their configurations say (``lightops.models.model_cfgs``)."""
    from lightops.models import model_cfgs

    labels = {"sc": "SC", "osc": "OSC", "spc": "SPC"}
    lines = ["| variant | operator | stem (kind, channels) | split | input norm | block widths C1..C5 |",
             "|---|---|---|---|---|---|"]
    for name, cfg in model_cfgs.items():
        ops = sorted({b.op for b in cfg.blocks})
        op = ", ".join(labels.get(o, o) for o in ops)
        if ops == ["osc"] and all(dict(b.op_kwargs).get("orthogonal", "soft") == "soft" for b in cfg.blocks):
            op += " (soft)"
        splits = ", ".join(sorted({b.split for b in cfg.blocks}))
        widths = ", ".join(str(b.out_chs) for b in cfg.blocks)
        lines.append(f"| {name} | {op} | {cfg.stem.kind}, {cfg.stem.out_chs} | {splits} | {cfg.input_norm or 'none'} "
                     f"| {widths} |")
    return "\n".join(lines)


def fused_macs() -> str:
    """docs/deploy.md: MACs and params of each model as built and after ``fuse`` (merged depthwise pairs)."""
    import lightops
    from lightops.deploy.fuse import fuse, inference_params
    from lightops.profiling import profile

    def macs(model, size) -> int:
        return profile(model, size, device="meta", memory=False).total_macs

    def pct(a: int, b: int) -> str:
        return f"{100 * (b - a) / a:+.1f} %"

    rows = ["| model | MACs 1-s, original -> fused | MACs 10-s, original -> fused | params -> inference params |",
            "|---|---:|---:|---:|"]
    for name in lightops.list_models():
        model = lightops.create_model(name).eval()
        fused = fuse(model, time_pool=False)
        m1, f1 = model.macs(CLIPS["1s"]), macs(fused, CLIPS["1s"])
        m10, f10 = model.macs(CLIPS["10s"]), macs(fused, CLIPS["10s"])
        params = sum(p.numel() for p in model.parameters())
        rows.append(f"| {name} | {m1:,} -> {f1:,} ({pct(m1, f1)}) | {m10:,} -> {f10:,} ({pct(m10, f10)}) | "
                    f"{params:,} -> {inference_params(fused):,} |")
        if name == "dssdn_middle":
            merged = fuse(model, time_pool=False, merge_pointwise=True)
            g1, g10 = macs(merged, CLIPS["1s"]), macs(merged, CLIPS["10s"])
            rows.append(f"| dssdn_middle, `merge_pointwise=True` | -> {g1:,} ({pct(m1, g1)}) | -> {g10:,} "
                        f"({pct(m10, g10)}) | |")
    return "\n".join(rows)
