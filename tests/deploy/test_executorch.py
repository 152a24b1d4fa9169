"""ExecuTorch export (XNNPACK): parity for every registered variant and the DCASE 2025 baseline, delegation reported
and portable kernels refused, the metadata sidecar, and the same predictions from .pt, .onnx and .pte."""
import json
import os
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn as nn

import lightops
from lightops.deploy.onnx_runtime import METADATA_KEYS
from tests.deploy.conftest import SMALL_INPUT, make_model

pytest.importorskip("executorch.exir")

from lightops.deploy.executorch import (  # noqa: E402
    SplitAvgPool2d,
    export_executorch,
    pools_as_convs,
    read_pte_metadata,
    require_executorch,
)

MODELS = lightops.list_models() + ["dcase2025_baseline"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_pte_matches_pytorch_and_is_fully_delegated(name, tmp_path):
    out = tmp_path / f"{name}.pte"
    result = export_executorch(make_model(name), out, SMALL_INPUT, checks=2)
    assert result.delegation.portable_ops == 0 and result.delegation.delegated_ops > 10
    assert all(c.within(1e-5) for c in result.checks)
    meta = read_pte_metadata(out)
    assert set(METADATA_KEYS) <= set(meta) and meta["lightops.executorch"]["input_shape"] == [1, *SMALL_INPUT]
    assert meta["lightops.executorch"]["delegation"]["portable_ops"] == 0
    assert 1 + meta["lightops.clip_samples"] // meta["lightops.frontend"]["hop_length"] == SMALL_INPUT[2]


def test_stacked_bands_are_fully_delegated(tmp_path):
    """``join="stack"`` pools neighbouring bins without ceil mode (70 bins: even and odd band counts both occur)."""
    model = make_model("dssdn_small", join="stack", split="band")
    result = export_executorch(model, tmp_path / "stack.pte", (1, 70, 32), checks=2)
    assert result.delegation.portable_ops == 0
    assert all(c.within(1e-5) for c in result.checks)


def test_high_band_operator_is_fully_delegated(tmp_path):
    """``high_op="sc"``: the high band's operator lowers to XNNPACK like the blocks' own operators."""
    result = export_executorch(make_model("dssdn_small", op="osc", high_op="sc"), tmp_path / "high.pte", (1, 64, 32),
                               checks=2)
    assert result.delegation.portable_ops == 0
    assert all(c.within(1e-5) for c in result.checks)


def test_haar_split_is_fully_delegated(tmp_path):
    """``split="haar"``: pair means as an average pool, differences in the high path's first convolution (70 bins:
    even and odd counts both occur)."""
    result = export_executorch(make_model("dssdn_small", op="osc", split="haar"), tmp_path / "haar.pte", (1, 70, 32),
                               checks=2)
    assert result.delegation.portable_ops == 0
    assert all(c.within(1e-5) for c in result.checks)


@pytest.mark.parametrize("spc", ["grouped", "partial"])
def test_spc_forms_are_fully_delegated(spc, tmp_path):
    """``fuse_kwargs={"spc": ...}``: the grouped 1x1 and SPC's own split (as slices) both lower to XNNPACK alone."""
    result = export_executorch(make_model("dssdn_small"), tmp_path / f"{spc}.pte", SMALL_INPUT, checks=2,
                               fuse_kwargs={"spc": spc})
    assert result.delegation.portable_ops == 0
    assert all(c.within(1e-5) for c in result.checks)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["memory", "speed"])
def test_int8_haar_split_is_fully_delegated(form, tmp_path):
    """The int8 program of a Haar split lowers whole in either form (memory: the pair differences as a reshape,
    slices and adds; speed: inside the high path's convolution)."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.pt2e import quantize_ptq

    size = (1, 70, 32)
    x = torch.randn(4, *size, generator=torch.Generator().manual_seed(0))
    q = quantize_ptq(LoadedModel(make_model("dssdn_small", split="haar"), name="dssdn_small"), [x], size, form=form)
    result = export_executorch(LoadedModel(q, name="dssdn_small"), tmp_path / "q.pte", checks=16)
    assert result.delegation.portable_ops == 0 and result.delegation.delegates == 1


@pytest.mark.parametrize("input_norm", ["clip", "resnorm"])
def test_input_norms_are_fully_delegated(input_norm, tmp_path):
    """ClipNorm's instance norm is spelled out as means for XNNPACK (it has no instance norm); ResNorm's means over
    time are pools. A program with an undelegated operator would be refused (no ``allow_portable``)."""
    result = export_executorch(make_model("dssdn_small", input_norm=input_norm), tmp_path / "norm.pte", (1, 64, 32),
                               checks=2)
    assert result.delegation.portable_ops == 0 and result.delegation.delegates == 1
    assert all(c.within(1e-5) for c in result.checks)


def test_instance_norm_rewrite_is_exact():
    from lightops.blocks import ClipNorm
    from lightops.deploy.executorch import xnnpack_rewrites

    x = (5 * torch.randn(2, 3, 16, 9, generator=torch.Generator().manual_seed(0)) + 2,)
    program = torch.export.export(ClipNorm(0.1).eval(), x)
    rewritten, done = xnnpack_rewrites(program, x)
    targets = {str(n.target) for n in rewritten.graph.nodes}
    assert done == 1 and not any("instance_norm" in t or "batch_norm" in t for t in targets)
    torch.testing.assert_close(rewritten.module()(*x), ClipNorm(0.1)(*x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("h,t", [(4, 8), (5, 9), (6, 11), (1, 1)])
def test_split_pool_is_ceil_mode_pool(h, t):
    x = torch.randn(2, 3, h, t)
    ref = nn.AvgPool2d((2, 3), ceil_mode=True)(x)
    assert torch.allclose(SplitAvgPool2d((2, 3))(x), ref, atol=1e-6)


class _Pools(nn.Module):
    """Pools of every kind: padded and counting it, unpadded, a split ceil-mode one (all three replaceable), padded
    not counting it and ceil mode (both kept)."""

    def __init__(self, kernel, stride, padding) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 5, 1)
        self.pad = nn.AvgPool2d(kernel, stride, padding)
        self.plain = nn.AvgPool2d(kernel, stride)
        self.split = SplitAvgPool2d((1, 2))
        self.exclude = nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)
        self.ceil = nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x):
        y = self.conv(x)
        return self.pad(y), self.plain(y), self.split(y), self.exclude(y), self.ceil(y)


@pytest.mark.parametrize("kernel,stride,padding,size", [(3, (1, 2), 1, (1, 9, 12)), (3, (2, 1), 1, (1, 8, 7)),
                                                        ((3, 5), 2, (1, 2), (1, 11, 13)), (1, 1, 0, (1, 1, 1))])
@pytest.mark.parametrize("padded_only", [False, True])
def test_pools_as_depthwise_convs_are_exact(kernel, stride, padding, size, padded_only):
    """An average pool counting its zero padding (or unpadded) equals a depthwise convolution of weights
    ``1 / (kh kw)`` (what the int8 delegates take); a split ceil-mode pool takes its whole windows so; pools of other
    kinds are left alone, and ``padded_only`` leaves all but the padded ones."""
    net = _Pools(kernel, stride, padding).eval()
    x = torch.randn(3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = net(x)
    padded = any(nn.modules.utils._pair(padding))
    unpadded = 0 if padded_only else 2 + 2 * (not padded)  # plain, split; pad and exclude when unpadded
    assert pools_as_convs(net, size, padded_only=padded_only) == int(padded) + unpadded
    assert isinstance(net.pad, nn.Conv2d) == (padded or not padded_only)
    assert isinstance(net.plain, nn.Conv2d) != padded_only and (net.split.whole is None) == padded_only
    assert isinstance(net.exclude, nn.Conv2d) == (not padded and not padded_only)
    assert net.pad.groups == 5 and net.pad.bias is None if isinstance(net.pad, nn.Conv2d) else True
    assert isinstance(net.ceil, nn.AvgPool2d)
    with torch.no_grad():
        for a, b in zip(net(x), ref):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert pools_as_convs(net, size, padded_only=padded_only) == (0 if padded_only else 1)  # the split pool again


@pytest.mark.slow
def test_int8_baseline_is_fully_delegated(tmp_path):
    """The DCASE 2025 baseline's strided shortcut pools (3x3, zero padding) reach XNNPACK's int8 delegate as
    depthwise convolutions; left as pools they ran in a portable kernel (refused here without ``allow_portable``)."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.pt2e import quantize_ptq

    size = (1, 64, 32)
    x = torch.randn(4, *size, generator=torch.Generator().manual_seed(0))
    model = make_model("dcase2025_baseline")
    assert any(isinstance(m, nn.AvgPool2d) and m.padding == 1 for m in model.modules())
    q = quantize_ptq(LoadedModel(model, name="dcase2025_baseline"), [x], size, form="speed")
    result = export_executorch(LoadedModel(q, name="dcase2025_baseline"), tmp_path / "q.pte", checks=16)
    assert result.delegation.portable_ops == 0 and result.delegation.delegates == 1
    assert result.agreement >= 0.75


class _Cumulative(nn.Module):
    """A conv then a cumulative sum: XNNPACK has no cumsum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).cumsum(-1).mean((2, 3))


def test_portable_kernels_refused_unless_allowed(tmp_path):
    out = tmp_path / "c.pte"
    with pytest.raises(RuntimeError, match="portable kernels.*cumsum"):
        export_executorch(_Cumulative(), out, (1, 8, 8), checks=1)
    assert not out.exists() and not os.path.exists(f"{out}.json")
    result = export_executorch(_Cumulative(), out, (1, 8, 8), checks=1, allow_portable=True)
    assert result.delegation.portable == {"cumsum": 1} and out.exists()
    assert "portable" in result.summary()


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "executorch.exir", None)
    with pytest.raises(ImportError, match=r"lightops\[edge\]"):
        require_executorch()


def test_importing_the_extra_prints_no_torch_warning():
    """torchao's import-time pytree registration warns on torch 2.14; ``require_executorch`` keeps it quiet (in a fresh
    process: the import happens once)."""
    import subprocess

    code = ("from lightops.deploy.executorch import require_executorch; require_executorch(); "
            "import torchao.quantization")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "register_constant" not in done.stderr and "_pytree" not in done.stderr, done.stderr


@pytest.mark.slow
def test_pt_onnx_and_pte_predict_the_same(trained_tau_run, tmp_path):
    """Labels equal and probabilities within 1e-4 on a few files; the CLI exports the .pte; a stream runs it."""
    pytest.importorskip("onnxruntime")
    from lightops.cli import main
    from lightops.deploy import Predictor, StreamingClassifier, export_onnx

    root, ckpt, _ = trained_tau_run
    pte, onnx = tmp_path / "m.pte", tmp_path / "m.onnx"
    assert main(["export", ckpt, "--format", "executorch", "--out", str(pte)]) == 0
    export_onnx(ckpt, onnx, static=True)
    files = sorted(os.path.join(root, "audio", f) for f in os.listdir(os.path.join(root, "audio")))[:4]
    probs = {}
    for path in (ckpt, onnx, pte):
        predictor = Predictor.from_path(path)
        probs[str(path)] = np.stack([predictor.predict_waveform(sf.read(f, dtype="float32")[0])[1].mean(0)
                                     for f in files])
    ref = probs[ckpt]
    for other in (str(onnx), str(pte)):
        assert (probs[other].argmax(1) == ref.argmax(1)).all()
        assert np.abs(probs[other] - ref).max() < 1e-4
    stream = StreamingClassifier(str(pte), window=None, hop=None)
    emitted = stream.push(sf.read(files[0], dtype="float32")[0])
    assert emitted and np.allclose(emitted[0][1], Predictor.from_path(ckpt).predict_waveform(
        sf.read(files[0], dtype="float32")[0])[1][0], atol=1e-4)
    assert json.loads((tmp_path / "m.pte.json").read_text())["lightops.classes"] == Predictor.from_path(ckpt).classes


@pytest.mark.parametrize("form,pool_convs,convs", [("speed", None, True), ("speed", False, False),
                                                    ("memory", None, False), ("memory", True, True)])
def test_int8_float_form_pools(form, pool_convs, convs):
    """The speed form quantizes every average pool as a depthwise convolution (the Haar pair means, the ceil-mode
    time pools' whole windows); the memory form, or ``pool_convs=False``, only zero-padded ones (none in DSSDN)."""
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.pt2e import float_form

    size = (1, 64, 33)  # an odd length: the time pools have a partial last window
    model = make_model("dssdn_small")
    net = float_form(LoadedModel(model, name="dssdn_small"), size, form, pool_convs=pool_convs)
    splits = [m for m in net.modules() if isinstance(m, SplitAvgPool2d)]
    assert splits and all((m.whole is not None) == convs for m in splits)
    if form == "speed":  # the pair means: pools or convolutions
        assert any(isinstance(m, nn.AvgPool2d) for m in net.modules()) != convs
    with torch.no_grad():
        x = torch.randn(2, *size, generator=torch.Generator().manual_seed(0))
        reference = float_form(LoadedModel(model, name="dssdn_small"), size, form, pool_convs=False)(x)
        torch.testing.assert_close(net(x), reference, atol=1e-5, rtol=1e-5)
