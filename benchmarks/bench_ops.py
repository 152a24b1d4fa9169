"""Operator benchmarks: SC, OSC (soft and exact), SPC, eager and fused, against their peers, at DSSDN's shapes.

Shapes are read from the models: for each variant and clip (1-s ``(1, 256, 44)``, 10-s ``(1, 256, 431)``) the
``(C, F, T)`` that the ``C -> C`` operators of a DSSDB see (the block width on the block's low band, before its
time pooling). Each shape is one benchmark group holding every operator and every peer, so ratios come from one
run; the reference is the depthwise-separable convolution (timm's ``SeparableConv2d``). Operators are bare (no
norm, no activation), as in ``lightops.create_op``; "fused" is ``lightops.deploy.fuse(op)``.

Study groups (``study:`` prefix) isolate one choice each: the depthwise 3x1 + 1x3 pair against one 3x3 with the
outer-product kernel, channels-last against contiguous memory, and ways of writing SPC's split and concatenate.

Run::

    python -m pytest benchmarks/bench_ops.py --benchmark-json=ops.json   # or: python -m benchmarks.run
"""
from __future__ import annotations

from typing import Callable, Dict, List, NamedTuple, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lightops
from benchmarks.common import CLIPS, stated_clip
from benchmarks.timing import QUICK, interleaved_ratio
from lightops.ops import DepthwisePair, SeparablePartialConv2d
from tests._peers import PEERS, REFERENCE_PEER, create_peer, list_peers


class OpShape(NamedTuple):
    """Where an operator shape occurs in DSSDN."""

    variant: str
    clip: str
    block: int  # 1-based
    size: Tuple[int, int, int]  # (C, F, T) seen by the block's C -> C operators

    @property
    def group(self) -> str:
        """Benchmark group name."""
        c, f, t = self.size
        return f"op {c}x{f}x{t} ({self.variant} block {self.block}, {self.clip})"


def dssdn_op_shapes(blocks: Tuple[int, ...] = (1, 3, 5), quick: bool = False) -> List[OpShape]:
    """``(C, F, T)`` of the ``C -> C`` operators in the given blocks of every DSSDN variant, for both clips.

    ``quick``: only block 1 of each variant on the clip its budget is stated for.
    """
    shapes: List[OpShape] = []
    for variant in lightops.list_models():
        model = lightops.create_model(variant)
        for clip, size in CLIPS.items():
            if quick and clip != stated_clip(variant):
                continue
            stages = model.stage_sizes(size)  # stem output, then every block's output
            for i, blk in enumerate(model.blocks, start=1):
                if i not in ((1,) if quick else blocks):
                    continue
                c, f_low, _ = blk.output_size(stages[i - 1])
                shapes.append(OpShape(variant, clip, i, (c, f_low, stages[i - 1][2])))
    seen, unique = set(), []
    for s in shapes:
        if s.size not in seen:
            seen.add(s.size)
            unique.append(s)
    return unique


SHAPES = dssdn_op_shapes(quick=QUICK)
OPS = [("sc", {}, "SC"), ("osc", {}, "OSC"), ("osc", {"orthogonal": "exact"}, "OSC exact"), ("spc", {}, "SPC")]
MODES = ("eager", "fused", "fused_merge_pw")  # fused_merge_pw: OSC only, fuse(..., merge_pointwise="auto")
FUSED_PEERS = ("ghost",)  # peers with something to fuse (BatchNorm); the others are unchanged by fuse()


def _check_same(a: nn.Module, b: nn.Module, x: torch.Tensor) -> None:
    with torch.inference_mode():
        ya, yb = a(x), b(x)
    scale = ya.abs().max().item() + 1e-6
    err = (ya - yb).abs().max().item() / scale
    assert err < 1e-4, f"rewritten module differs from the original: max relative error {err:.2e}"


def _ids(shapes: List[OpShape]) -> List[str]:
    return ["x".join(map(str, s.size)) + f"-{s.variant}-b{s.block}-{s.clip}" for s in shapes]


# ---- operators and peers, one group per shape ---------------------------------------------------------------

OP_CASES = [(o, m) for o in OPS for m in MODES if m != "fused_merge_pw" or o[0] == "osc"]


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
@pytest.mark.parametrize("case", OP_CASES, ids=[f"{o[2].lower().replace(' ', '_')}-{m}" for o, m in OP_CASES])
def test_op(bench, fuse, shape: OpShape, case) -> None:
    """A lightops operator (``C -> C``), eager, fused, or (OSC) fused with its 1x1 factors merged where it pays."""
    (name, kwargs, label), mode = case
    c, f, t = shape.size
    torch.manual_seed(0)
    module = lightops.create_op(name, c, c, **kwargs).eval()
    x = torch.randn(1, c, f, t)
    run = module
    if mode == "fused":
        run = fuse(module)
    elif mode == "fused_merge_pw":
        run = fuse(module, merge_pointwise="auto", input_size=shape.size)
    if run is not module:
        _check_same(module, run, x)
    tag = {"eager": "", "fused": " (fused)", "fused_merge_pw": " (fused, merge_pointwise=auto)"}[mode]
    bench(run, x, group=shape.group, label=label + tag,
          macs=module.macs(shape.size), params=module.params(), kind="op", op=name, mode=mode,
          shape=list(shape.size), variant=shape.variant, block=shape.block, clip=shape.clip)


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
@pytest.mark.parametrize("peer", list_peers() + [f"{p}:fused" for p in FUSED_PEERS])
def test_peer(bench, fuse, shape: OpShape, peer: str) -> None:
    """A peer operator (``C -> C``); the depthwise-separable convolution is the group's reference."""
    name, _, fused = peer.partition(":")
    c, f, t = shape.size
    torch.manual_seed(0)
    module = create_peer(name, c, c)
    x = torch.randn(1, c, f, t)
    run = module
    if fused:
        run = fuse(module)
        _check_same(module, run, x)
    spec = PEERS[name]
    bench(run, x, group=shape.group, label=spec.label + (" (fused)" if fused else ""),
          macs=spec.macs(c, c, f, t), params=spec.params(c, c), reference=name == REFERENCE_PEER and not fused,
          kind="peer", op=name, mode="fused" if fused else "eager", shape=list(shape.size), variant=shape.variant,
          block=shape.block, clip=shape.clip)


# ---- study: depthwise pair vs one 3x3, contiguous vs channels-last --------------------------------------------

def _study_shapes() -> List[OpShape]:
    """First and last block of DSSDN-Large on a 10-s clip and of DSSDN-Small on a 1-s clip."""
    keep = [s for s in SHAPES if (s.variant, s.clip) in (("dssdn_large", "10s"), ("dssdn_small", "1s"))
            and s.block in (1, 5)]
    return keep[:2] if QUICK else keep


STUDY_SHAPES = _study_shapes()


def _merged(pair: DepthwisePair) -> nn.Module:
    return pair.inference_form().eval()


@pytest.mark.parametrize("shape", STUDY_SHAPES, ids=_ids(STUDY_SHAPES))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("kernel", ["pair 3x1+1x3", "merged 3x3"])
def test_study_depthwise(bench, fuse, shape: OpShape, kernel: str, layout: str) -> None:
    """The depthwise 3x1 then 1x3 pair against the single 3x3 with the outer-product kernel."""
    c, f, t = shape.size
    torch.manual_seed(0)
    pair = DepthwisePair(c).eval()
    module = _merged(pair) if kernel.startswith("merged") else pair
    x = torch.randn(1, c, f, t)
    if layout == "channels_last":
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    _check_same(pair, module, x)
    macs = pair.macs(f, t) if kernel.startswith("pair") else 9 * c * f * t
    bench(module, x, group=f"study: depthwise {c}x{f}x{t}", label=f"{kernel}, {layout}", macs=macs,
          params=sum(p.numel() for p in module.parameters()),
          reference=kernel.startswith("pair") and layout == "contiguous", kind="study", study="depthwise",
          shape=list(shape.size), layout=layout)


def _layout_case(name: str, c: int, fuse: Callable) -> Tuple[nn.Module, int, int]:
    if name == "dwsep":
        m = create_peer("dwsep", c, c)
        return m, PEERS["dwsep"].macs(c, c, 1, 1), PEERS["dwsep"].params(c, c)
    op = lightops.create_op(name, c, c).eval()
    return fuse(op), op.macs((c, 1, 1)), op.params()


@pytest.mark.parametrize("shape", STUDY_SHAPES, ids=_ids(STUDY_SHAPES))
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("name", ["dwsep", "sc", "spc"])
def test_study_layout(bench, fuse, shape: OpShape, name: str, layout: str) -> None:
    """Fused SC and SPC, and the depthwise-separable peer, in contiguous and channels-last memory."""
    c, f, t = shape.size
    torch.manual_seed(0)
    module, macs_per_bin, params = _layout_case(name, c, fuse)
    x = torch.randn(1, c, f, t)
    if layout == "channels_last":
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    label = {"dwsep": PEERS["dwsep"].label, "sc": "SC (fused)", "spc": "SPC (fused)"}[name]
    bench(module, x, group=f"study: layout {c}x{f}x{t}", label=f"{label}, {layout}", macs=macs_per_bin * f * t,
          params=params, reference=name == "dwsep" and layout == "contiguous", kind="study", study="layout",
          shape=list(shape.size), layout=layout, op=name)


# ---- study: SPC's split and concatenate ----------------------------------------------------------------------

class SPCCloneAssign(SeparablePartialConv2d):
    """SPC written as FasterNet's inference path: clone the input, overwrite the first ``Cp`` channels."""

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()  # (B, Cin, F, T); stride 1 only
        out[:, : self.part_chs] = self.sc(x[:, : self.part_chs])
        return self.proj(out)


class SPCPreallocated(SeparablePartialConv2d):
    """SPC with the output allocated once per call and both parts copied into it (``copy_``)."""

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        part = self.sc(x.narrow(1, 0, self.part_chs))
        out = x.new_empty(x.shape)  # (B, Cin, F, T); stride 1 only
        out.narrow(1, 0, self.part_chs).copy_(part)
        out.narrow(1, self.part_chs, self.rest_chs).copy_(x.narrow(1, self.part_chs, self.rest_chs))
        return self.proj(out)


class SPCSplitProjection(SeparablePartialConv2d):
    """SPC with a projection, without the concatenation: ``W [a; b] = W_a a + W_b b`` (two 1x1 and an add)."""

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        part, rest = torch.split(x, [self.part_chs, self.rest_chs], dim=1)
        w = self.proj.weight
        return F.conv2d(self.sc(part), w[:, : self.part_chs]).add_(F.conv2d(rest, w[:, self.part_chs:]))


SPC_VARIANTS: Dict[str, type] = {
    "split + cat (current)": SeparablePartialConv2d, "clone + slice assign": SPCCloneAssign,
    "preallocated + copy_": SPCPreallocated, "projection split, no cat": SPCSplitProjection,
    "split + cat, fuse()": SeparablePartialConv2d, "full-width SC (as_full_width)": SeparablePartialConv2d,
}


def _spc_cases() -> List[Tuple[OpShape, int]]:
    """SPC shapes from DSSDN-Small: ``C -> C`` (no projection) and ``Cin -> C`` (projection, block entry)."""
    cases = []
    for s in SHAPES:
        if s.variant != "dssdn_small" or s.block not in (1, 5):
            continue
        cases.append((s, s.size[0]))
        model = lightops.create_model(s.variant)
        in_chs = model.blocks[s.block - 1].in_chs
        if in_chs != s.size[0]:
            cases.append((OpShape(s.variant, s.clip, s.block, (in_chs, s.size[1], s.size[2])), s.size[0]))
    return cases[:2] if QUICK else cases


SPC_CASES = _spc_cases()


@pytest.mark.parametrize("case", SPC_CASES, ids=[f"{'x'.join(map(str, s.size))}-to{o}-{s.clip}" for s, o in SPC_CASES])
@pytest.mark.parametrize("variant", list(SPC_VARIANTS))
def test_study_spc(bench, fuse, case: Tuple[OpShape, int], variant: str) -> None:
    """Ways to write SPC's split/concatenate, same maths (eager, bare operator; the full-width SC is fused)."""
    shape, out_chs = case
    c, f, t = shape.size
    if variant.startswith("projection") and c == out_chs:
        pytest.skip("no projection when in_chs == out_chs")
    if variant.startswith("full-width") and c != out_chs:
        pytest.skip("the full-width rewrite is for SPC without projection")
    torch.manual_seed(0)
    ref = SeparablePartialConv2d(c, out_chs).eval()
    if variant.startswith("full-width"):
        module = ref.as_full_width().eval()  # the library's full-width form: no split, no concatenation
    elif variant.endswith("fuse()"):
        module = fuse(ref)
    else:
        module = SPC_VARIANTS[variant](c, out_chs).eval()
        module.load_state_dict(ref.state_dict())
    x = torch.randn(1, c, f, t)
    _check_same(ref, module, x)
    bench(module, x, group=f"study: spc {c}->{out_chs} {c}x{f}x{t}", label=variant, macs=ref.macs(shape.size),
          params=ref.params(), reference=variant.endswith("(current)"), kind="study", study="spc",
          shape=list(shape.size), out_chs=out_chs, part_chs=ref.part_chs, cat_bytes=4 * c * f * t,
          copy_fraction=round(1 - ref.part_chs / c, 3) if c == out_chs else None)


# ---- interleaved ratios for the targets ------------------------------------------------------------------------

PAIRS = [  # (a, b, goal): a's latency over b's must stay at or below goal
    (("sc", "eager"), ("dwsep", "eager"), 1.2), (("sc", "fused"), ("dwsep", "eager"), 1.2),
    (("osc", "eager"), ("sc", "eager"), 1.0), (("osc", "fused"), ("sc", "fused"), 1.0),
    (("osc_exact", "eager"), ("sc", "eager"), 1.0), (("osc_exact", "fused"), ("sc", "fused"), 1.0),
    (("spc", "eager"), ("sc", "eager"), 1.0), (("spc", "fused"), ("sc", "fused"), 1.0),
]


def _pair_module(key: str, mode: str, c: int, fuse: Callable) -> nn.Module:
    torch.manual_seed(0)
    if key == "dwsep":
        return create_peer("dwsep", c, c)
    kwargs = {"orthogonal": "exact"} if key == "osc_exact" else {}
    op = lightops.create_op(key.removesuffix("_exact"), c, c, **kwargs).eval()
    return fuse(op) if mode == "fused" else op


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_pairs_op(fuse, pairs, shape: OpShape) -> None:
    """The operator targets as ratios of calls timed in alternation (``conftest.interleaved_ratio``)."""
    c, f, t = shape.size
    x = torch.randn(1, c, f, t)
    cache: Dict[Tuple[str, str], nn.Module] = {}
    for a, b, goal in PAIRS:
        ma = cache.setdefault(a, _pair_module(*a, c, fuse))
        mb = cache.setdefault(b, _pair_module(*b, c, fuse))
        res = interleaved_ratio(ma, x, mb, x)
        pairs.append(dict(kind="op", group=shape.group, a=a[0], a_mode=a[1], b=b[0], b_mode=b[1], goal=goal,
                          shape=list(shape.size), **res))
