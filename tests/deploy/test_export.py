"""ONNX export: onnxruntime agrees with PyTorch at several lengths and batch 2; bad input fails cleanly."""
import os
import re

import numpy as np
import pytest
import torch

import lightops
from lightops.blocks.multi_scale import adaptive_avg_exportable
from lightops.checkpoint import LoadedModel, load_model
from lightops.cli.export import main as main_export
from lightops.deploy import export as export_mod
from lightops.deploy.export import export_onnx
from lightops.deploy.module import deploy_module
from lightops.deploy.onnx_runtime import read_metadata
from lightops.deploy.parity import onnx_parity
from tests.deploy.conftest import SMALL_INPUT, make_model

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

MODELS = lightops.list_models()
ATOL = 1e-5  # measured: about 4e-7 on log-mel input
ATOL_FRONTEND = 5e-5  # waveform input: onnxruntime's STFT against torch.stft, measured 2.4e-5 on these inputs


def check_file(path, model, frames=(16, 17, 45)):
    """onnxruntime on the file against ``model`` at batch 2 and several lengths (the shortest included)."""
    inputs = [torch.randn(2, 1, 64, t) for t in frames]
    checks = onnx_parity(str(path), model, inputs)
    assert [c.input_shape for c in checks] == [tuple(x.shape) for x in inputs]
    assert max(c.max_abs_diff for c in checks) <= ATOL


def test_exportable_pooling_equals_adaptive_pooling():
    import torch.nn.functional as F

    for t in (3, 7, 11):
        for x in (torch.randn(2, 4, 8, 4 * t + 3), torch.randn(2, 5, 4, 2 * t + 1)):
            pooled = adaptive_avg_exportable(adaptive_avg_exportable(x, 2, 2), 3, t)
            assert torch.allclose(pooled, F.adaptive_avg_pool2d(x, (2, t)), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_export_torchscript_parity(name, tmp_path):
    model = make_model(name)
    out = tmp_path / f"{name}.onnx"
    result = export_onnx(model, out, SMALL_INPUT, exporter="torchscript")
    assert out.is_file() and result.exporter == "torchscript"
    assert result.dynamic_axes == {0: "batch", 3: "time"}
    assert len(result.checks) == 2 and all(c.input_shape[0] == 2 for c in result.checks)
    assert len({c.input_shape[3] for c in result.checks}) == 2
    check_file(out, model)
    assert sorted(os.listdir(tmp_path)) == [out.name]  # no temporary file left


@pytest.mark.parametrize("split", ["band", "haar"])
def test_export_parity_of_either_frequency_split(split, tmp_path):
    """The paper's bands and the Haar split (pair means through an average pool, differences inside the high path's
    convolution) export and agree with PyTorch at every length, whichever split a model holds."""
    model = make_model("dssdn_small", split=split, op="osc")
    out = tmp_path / "split.onnx"
    export_onnx(model, out, SMALL_INPUT, exporter="torchscript")
    check_file(out, model)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_export_dynamo_parity(name, tmp_path):
    model = make_model(name)
    out = tmp_path / f"{name}.onnx"
    result = export_onnx(model, out, SMALL_INPUT)  # "auto": the dynamo exporter first
    assert result.exporter == "dynamo", result.notes
    check_file(out, model)


@pytest.mark.slow
def test_export_with_frontend(tmp_path, small_model):
    out = tmp_path / "small_wave.onnx"
    result = export_onnx(small_model, out, SMALL_INPUT, with_frontend=True)
    assert result.with_frontend and result.input_name == "waveform" and result.exporter == "dynamo"
    loaded = LoadedModel(small_model)
    reference = deploy_module(loaded, with_frontend=True, n_mels=64, fused=False)
    checks = onnx_parity(str(out), reference, [0.1 * torch.randn(2, n) for n in (15 * 1024, 40_000)])
    assert max(c.max_abs_diff for c in checks) <= ATOL_FRONTEND


def test_frontend_needs_the_dynamo_exporter(tmp_path, small_model):
    out = tmp_path / "wave.onnx"
    with pytest.raises(RuntimeError, match="(?i)stft"):
        export_onnx(small_model, out, SMALL_INPUT, with_frontend=True, exporter="torchscript")
    assert not os.listdir(tmp_path)


def save_checkpoint(path, model, **extra):
    torch.save(dict(model="dssdn_small", model_kwargs={"num_classes": 10}, state_dict=model.state_dict(), **extra),
               path)


def test_checkpoint_export(tmp_path, small_model):
    ckpt = tmp_path / "last.pt"
    # a training checkpoint also holds RNG states (numpy arrays) and the front end's normalisation
    rng = {"numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    save_checkpoint(ckpt, small_model, rng=rng, input_size=list(SMALL_INPUT),
                    frontend={"sample_rate": 44100, "n_fft": 4096, "hop_length": 1024, "n_mels": 64, "mean": -20.0,
                              "std": 12.0})
    loaded = load_model(ckpt)
    assert loaded.norm == (-20.0, 12.0) and loaded.input_size == SMALL_INPUT
    out = tmp_path / "small.onnx"
    result = export_onnx(str(ckpt), out, exporter="torchscript")  # input size from the checkpoint
    assert result.checks[0].input_shape == (2, *SMALL_INPUT)
    x = -20.0 + 12.0 * torch.randn(2, *SMALL_INPUT)  # log-mel in dB: the normalisation is inside the graph
    checks = onnx_parity(str(out), lambda v: small_model((v + 20.0) / 12.0), [x])
    assert checks[0].max_abs_diff <= ATOL
    meta = read_metadata(str(out))  # what `lightops predict` reads
    assert meta["lightops.model"] == "dssdn_small" and meta["lightops.input"] == "logmel"
    assert meta["lightops.input_size"] == list(SMALL_INPUT)
    assert meta["lightops.frontend"]["mean"] == -20.0 and meta["lightops.frontend"]["n_mels"] == 64


@pytest.mark.slow
def test_checkpoint_export_dynamo(tmp_path, small_model):
    """The normalisation wrapper in front of the model must not break the dynamo exporter's dynamic shapes."""
    ckpt = tmp_path / "last.pt"
    save_checkpoint(ckpt, small_model, frontend={"n_mels": 64, "mean": -20.0, "std": 12.0})
    result = export_onnx(str(ckpt), tmp_path / "small.onnx", SMALL_INPUT)
    assert result.exporter == "dynamo", result.notes


def test_checkpoint_with_cfg_dict(tmp_path):
    from lightops.models import model_cfgs

    cfg = model_cfgs["dssdn_small"].with_op("osc", orthogonal="exact")
    model = lightops.create_model("dssdn_small", cfg=cfg).eval()
    ckpt = tmp_path / "osc.pt"
    torch.save(dict(model="dssdn_small", model_kwargs={"cfg": cfg.to_dict()}, state_dict=model.state_dict()), ckpt)
    loaded = load_model(ckpt)
    x = torch.randn(1, *SMALL_INPUT)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), model(x))


def test_bad_checkpoints(tmp_path, small_model):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": small_model.state_dict()}, bad)
    with pytest.raises(ValueError, match="expected a dict with keys"):
        export_onnx(str(bad), tmp_path / "x.onnx", SMALL_INPUT)
    wrong = tmp_path / "wrong.pt"
    torch.save(dict(model="dssdn_large", model_kwargs={}, state_dict=small_model.state_dict()), wrong)
    with pytest.raises(ValueError, match="does not fit"):
        export_onnx(str(wrong), tmp_path / "x.onnx", SMALL_INPUT)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        export_onnx(str(tmp_path / "missing.pt"), tmp_path / "x.onnx", SMALL_INPUT)
    assert sorted(os.listdir(tmp_path)) == ["bad.pt", "wrong.pt"]


@pytest.mark.parametrize("out,error,match", [
    ("missing_dir/model.onnx", FileNotFoundError, "does not exist"),
    ("a_file.txt/model.onnx", FileNotFoundError, "not a directory"),
    (".", IsADirectoryError, "is a directory"),
])
def test_unusable_output_path(tmp_path, out, error, match):
    (tmp_path / "a_file.txt").write_text("")
    with pytest.raises(error, match=match):
        export_onnx("dssdn_small", tmp_path / out, SMALL_INPUT)
    assert sorted(os.listdir(tmp_path)) == ["a_file.txt"]


def test_unwritable_output_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod.os, "access", lambda path, mode: False)  # the tests may run as root
    with pytest.raises(PermissionError, match="not writable"):
        export_onnx("dssdn_small", tmp_path / "model.onnx", SMALL_INPUT)
    assert not os.listdir(tmp_path)


def test_unknown_model_and_small_input(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'dssdn_nano'"):
        export_onnx("dssdn_nano", tmp_path / "x.onnx")
    with pytest.raises(ValueError, match=r"too small.*F >= 33 mel bins and T >= 16 frames"):
        export_onnx("dssdn_small", tmp_path / "x.onnx", (1, 32, 16))
    with pytest.raises(ValueError, match="too small"):
        export_onnx("dssdn_small", tmp_path / "x.onnx", (1, 64, 15))
    with pytest.raises(ValueError, match="exporter"):
        export_onnx("dssdn_small", tmp_path / "x.onnx", exporter="tflite")
    assert not os.listdir(tmp_path)


def test_failed_check_leaves_no_file_and_keeps_an_old_one(tmp_path, small_model):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disagrees"):
        export_onnx(small_model, out, SMALL_INPUT, exporter="torchscript", atol=0.0)
    assert out.read_bytes() == b"previous" and sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_command_line(tmp_path, capsys):
    out = tmp_path / "small.onnx"
    assert main_export(["dssdn_small", "--out", str(out), "--input", "1,64,32", "--exporter", "torchscript"]) == 0
    text = capsys.readouterr().out
    assert "onnx.checker: ok" in text and "torchscript exporter" in text and out.is_file()
    assert main_export(["dssdn_nano", "--out", str(tmp_path / "x.onnx")]) == 2
    assert "unknown model 'dssdn_nano'" in capsys.readouterr().err
    assert main_export(["dssdn_small", "--out", str(tmp_path / "no" / "x.onnx")]) == 2
    assert main_export(["dssdn_small", "--out", str(tmp_path / "x.onnx"), "--input", "1,64,8"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["small.onnx"]


@pytest.mark.parametrize("spc", ["grouped", "partial"])
def test_command_line_spc_form(spc, tmp_path):
    """``--spc``: the ONNX file holds the form asked for (grouped convolutions; SPC's split kept) and passes the
    export's parity check."""
    onnx = pytest.importorskip("onnx")
    out = tmp_path / f"{spc}.onnx"
    assert main_export(["dssdn_small", "--out", str(out), "--input", "1,64,32", "--static", "--spc", spc]) == 0
    graph = onnx.load(str(out)).graph
    groups = [a.i for n in graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    ops = {n.op_type for n in graph.node}
    if spc == "grouped":
        assert any(1 < g < 16 for g in groups)  # Cin / Cp groups, not depthwise
    else:
        assert "Split" in ops or "Slice" in ops


def test_command_line_takes_the_format_from_the_suffix_and_refuses_a_mismatch(tmp_path, capsys):
    """`--out x.pte` means ExecuTorch; a suffix that does not match the format is refused before any work (a file
    `lightops predict` would not recognise)."""
    from lightops.cli.export import resolve_format

    assert resolve_format(None, "m.pte") == "executorch" and resolve_format(None, "m.onnx") == "onnx"
    assert resolve_format("executorch", "m.pte") == "executorch"
    for fmt, out in ((None, "m.wav"), ("executorch", "m.onnx"), ("onnx", "m.pte")):
        with pytest.raises(ValueError, match="must end in"):
            resolve_format(fmt, out)
    assert main_export(["dssdn_small", "--out", str(tmp_path / "m.wav")]) == 2
    assert "an ONNX export must end in .onnx" in capsys.readouterr().err
    assert main_export(["dssdn_small", "--format", "executorch", "--out", str(tmp_path / "m.onnx")]) == 2
    assert not any(tmp_path.iterdir())


def test_opset_is_honoured_or_the_exporter_fails(tmp_path, small_model, monkeypatch):
    """The dynamo exporter writes opset 18 when it cannot convert to an older one: that counts as its failure (auto
    goes on to torchscript), never a file at another opset than asked; an opset onnx does not know is refused."""
    def dynamo_ignoring_opset(net, example, path, opset, axes, names):  # what torch's dynamo exporter does below 18
        export_mod._export_torchscript(net, example, path, 18, axes, names)

    monkeypatch.setattr(export_mod, "_export_dynamo", dynamo_ignoring_opset)
    result = export_onnx(small_model, tmp_path / "m.onnx", SMALL_INPUT, opset=13, static=True)
    assert result.opset == 13 and result.exporter == "torchscript"
    assert "dynamo exporter failed: RuntimeError: it wrote opset 18, not the opset 13 asked for" in result.notes[0]
    with pytest.raises(RuntimeError, match="it wrote opset 18, not the opset 13"):
        export_onnx(small_model, tmp_path / "d.onnx", SMALL_INPUT, opset=13, exporter="dynamo", static=True)
    for opset in (5, 99):
        with pytest.raises(ValueError, match=rf"opset must be an int in \[7, \d+\], got {opset}"):
            export_onnx(small_model, tmp_path / "x.onnx", SMALL_INPUT, opset=opset)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]


def test_command_line_refuses_an_input_the_checkpoint_was_not_trained_on_and_a_negative_atol(tmp_path, capsys,
                                                                                             small_model):
    """F is the front end's n_mels (T may differ); C the model's; --atol >= 0: all before any export."""
    ckpt = tmp_path / "last.pt"
    save_checkpoint(ckpt, small_model, input_size=list(SMALL_INPUT), frontend={"n_mels": 64, "mean": -20.0,
                                                                                "std": 12.0})
    for args, message in ((["--input", "1,128,32"], "has F = 128 mel bins but the checkpoint's front end makes 64"),
                          (["--input", "2,64,32"], "C=2 channels, expected in_chs=1"),
                          (["--atol", "-1"], "--atol must be a number in"),
                          (["--input", "1,128,32", "--format", "executorch"], "export_executorch: input .* F = 128")):
        out = str(tmp_path / ("m.pte" if "executorch" in args else "m.onnx"))
        assert main_export([str(ckpt), "--out", out, *args]) == 2
        assert re.search(message, capsys.readouterr().err), message
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]
