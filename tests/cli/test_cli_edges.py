"""Edges of the commands' input: each refused or reported in one line naming the option, value or file, and a failed
command leaves no empty output folder behind."""
import io
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn as nn

from lightops.checkpoint import load_model, read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.cli._args import removed_if_empty_on_failure
from tests.train.common import TINY_ARGS

FRONTEND = {"sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "n_mels": 8, "mean": -20.0, "std": 12.0}


def _one_line(message):
    return "\n" not in str(message) and "Traceback" not in str(message)


def _stdin(monkeypatch, raw):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))


def _changed(ckpt_path, **changes):
    """The checkpoint at ``ckpt_path`` with ``changes`` (``args`` merged into the saved options)."""
    ckpt = read_checkpoint(ckpt_path)
    if "args" in changes:
        changes["args"] = dict(ckpt["args"], **changes["args"])
    return dict(ckpt, **changes)


def _edited(ckpt_path, path, **changes):
    """A copy of the checkpoint at ``ckpt_path`` with ``changes``, saved at ``path``."""
    save_checkpoint(_changed(ckpt_path, **changes), path)
    return str(path)


# predict --stream


def test_stream_refuses_paths_beside_it(trained_tau_run, tmp_path, monkeypatch):
    _, ckpt, _ = trained_tau_run
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    _stdin(monkeypatch, b"")
    with pytest.raises(SystemExit) as info:
        main(["predict", ckpt, str(tmp_path / "a.wav"), "--stream"])
    message = str(info.value.code)
    assert "--stream reads audio from standard input" in message and "a.wav" in message and _one_line(message)


@pytest.mark.parametrize("fmt,raw,extra", [
    ("f32", np.zeros(12000, dtype="<f4").tobytes(), b"\x00\x01\x02"),
    ("s16", np.zeros(12000, dtype="<i2").tobytes(), b"\x07"),
    ("f32", np.zeros(12000, dtype="<f4").tobytes(), b""),
])
def test_stream_ending_inside_a_sample_is_reported(trained_tau_run, monkeypatch, capsys, fmt, raw, extra):
    """The windows before stand (exit 0); the dropped bytes are named on stderr, and only when there are some."""
    _, ckpt, _ = trained_tau_run
    _stdin(monkeypatch, raw + extra)
    assert main(["predict", ckpt, "--stream", "--stream-format", fmt, "--window", "0.5", "--hop", "0.25"]) == 0
    captured = capsys.readouterr()
    assert [float(line.split("\t")[0]) for line in captured.out.strip().splitlines()[1:]] == [0.0, 0.25]
    if extra:
        assert f"dropped its last {len(extra)} byte(s)" in captured.err and fmt in captured.err
        assert len(captured.err.strip().splitlines()) == 1
    else:
        assert "dropped" not in captured.err


# failed commands leave no empty output folder


def test_removed_if_empty_on_failure_removes_only_what_it_made_and_is_empty(tmp_path):
    with pytest.raises(RuntimeError):
        with removed_if_empty_on_failure(str(tmp_path / "a" / "b")):
            (tmp_path / "a" / "b").mkdir(parents=True)
            raise RuntimeError
    assert not (tmp_path / "a").exists()
    (tmp_path / "old").mkdir()
    with pytest.raises(RuntimeError):
        with removed_if_empty_on_failure(str(tmp_path / "old" / "new")):
            (tmp_path / "old" / "new").mkdir()
            (tmp_path / "old" / "new" / "kept.txt").write_text("x")
            raise RuntimeError
    assert (tmp_path / "old" / "new" / "kept.txt").read_text() == "x"
    with pytest.raises(RuntimeError):
        with removed_if_empty_on_failure(str(tmp_path / "old")):
            raise RuntimeError
    assert (tmp_path / "old").is_dir()
    with removed_if_empty_on_failure(str(tmp_path / "ok")):
        (tmp_path / "ok").mkdir()
    assert (tmp_path / "ok").is_dir()  # a command that succeeds keeps its folder, empty or not


def test_failed_eval_leaves_no_new_folder(trained_tau_run, tmp_path):
    root, ckpt, _ = trained_tau_run
    state = dict(read_checkpoint(ckpt)["state_dict"])
    state.pop(next(iter(state)))
    broken = _edited(ckpt, tmp_path / "broken.pt", state_dict=state)  # fails after the data, when the model loads
    with pytest.raises(SystemExit, match="state_dict does not fit"):
        main(["eval", broken, "--data", root, "--out", str(tmp_path / "new" / "eval"), "--quiet"])
    assert not (tmp_path / "new").exists()
    with pytest.raises(SystemExit, match="state_dict does not fit"):
        main(["eval", broken, "--data", root, "--quiet"])  # the default folder, eval/ next to the checkpoint
    assert not (tmp_path / "eval").exists()
    (tmp_path / "given").mkdir()
    with pytest.raises(SystemExit, match="state_dict does not fit"):
        main(["eval", broken, "--data", root, "--out", str(tmp_path / "given"), "--quiet"])
    assert (tmp_path / "given").is_dir()  # it was there before


def test_failed_quantize_leaves_no_new_folder(trained_tau_run, tmp_path):
    _, ckpt, _ = trained_tau_run
    with pytest.raises(SystemExit, match="data folder not found"):
        main(["quantize", ckpt, "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "int8"), "--quiet"])
    assert not (tmp_path / "int8").exists()


def test_failed_train_leaves_no_new_folder(tmp_path):
    with pytest.raises(SystemExit, match="change --clip-seconds"):  # the model's shape check, after OUT is made
        main(["train", *TINY_ARGS, "--clip-seconds", "0.02", "--out", str(tmp_path / "run" / "a")])
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit, match="no checkpoint to resume"):
        main(["train", *TINY_ARGS, "--resume", "--out", str(tmp_path / "resumed")])
    assert not (tmp_path / "resumed").exists()


# --out that is a file


@pytest.mark.parametrize("command", ["quantize", "eval", "train"])
def test_out_that_is_a_file_is_named_as_such(trained_tau_run, tmp_path, command):
    _, ckpt, _ = trained_tau_run
    out = tmp_path / "results"
    out.write_text("keep me")
    argv = ["train", *TINY_ARGS] if command == "train" else [command, ckpt]
    with pytest.raises(SystemExit) as info:
        main(argv + ["--out", str(out)])
    message = str(info.value.code)
    assert f"--out must be a folder, but {out} is a file" in message and "File exists" not in message
    assert out.read_text() == "keep me"


# summary --depth


def test_summary_refuses_a_negative_depth(capsys):
    from lightops.cli import summary_text

    with pytest.raises(SystemExit) as info:
        main(["summary", "dssdn_small", "--depth", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--depth" in err and "'-1'" in err and "0 or more" in err
    with pytest.raises(ValueError, match="depth must be an int >= 0, got -1"):
        summary_text("dssdn_small", depth=-1)


# train --resume with other epochs


def test_resume_with_other_epochs_prints_one_plain_notice(tmp_path, capsys, recwarn):
    out = str(tmp_path / "run")
    assert main(["train", *TINY_ARGS, "--out", out, "--epochs", "2", "--stop-after", "1"]) == 0
    capsys.readouterr()
    assert main(["train", *TINY_ARGS, "--out", out, "--epochs", "3", "--stop-after", "1", "--resume"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["note: --resume with epochs=3 instead of 2: the learning-rate schedule is rebuilt for 3 epochs"]
    assert not [w for w in recwarn if "--resume" in str(w.message)]


# ONNX metadata that is not JSON


def _onnx_with_metadata(path, meta):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return str(path)


def test_onnx_metadata_that_is_not_json_names_the_file_and_key(tmp_path):
    from lightops.deploy.onnx_runtime import ort_session, read_metadata

    path = _onnx_with_metadata(tmp_path / "edited.onnx", {"lightops.frontend": json.dumps(FRONTEND),
                                                           "lightops.input": json.dumps("logmel"),
                                                           "lightops.clip_samples": json.dumps(8000),
                                                           "lightops.classes": '["a", '})
    for source in (path, ort_session(path)):
        with pytest.raises(ValueError, match=r"edited\.onnx: its metadata 'lightops.classes' is not valid JSON"):
            read_metadata(source)
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(SystemExit) as info:
        main(["predict", path, str(tmp_path / "a.wav"), "--out", str(tmp_path / "p.csv")])
    message = str(info.value.code)
    assert "edited.onnx" in message and "'lightops.classes'" in message and _one_line(message)
    assert not (tmp_path / "p.csv").exists()


# a checkpoint whose clip length is not positive


@pytest.mark.parametrize("changes,shown", [(dict(clip_seconds=-1.0), "clip_seconds -1.0"),
                                           (dict(clip_seconds=0), "clip_seconds 0"),
                                           (dict(clip_seconds=math.nan), "clip_seconds nan"),
                                           (dict(args=dict(clip_seconds=-0.5)), "args['clip_seconds'] -0.5")])
def test_checkpoint_with_a_clip_length_that_is_not_positive_is_refused(trained_tau_run, tmp_path, changes, shown):
    _, ckpt, _ = trained_tau_run
    path = _edited(ckpt, tmp_path / "edited.pt", **changes)
    with pytest.raises(ValueError, match=rf"checkpoint '.*edited\.pt' has {re.escape(shown)}: expected a positive "
                                         r"number of seconds"):
        read_checkpoint(path)
    with pytest.raises(ValueError, match=rf"checkpoint '<dict>' has {re.escape(shown)}"):  # a dict built in code
        load_model(_changed(ckpt, **changes))
    sf.write(tmp_path / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(SystemExit) as info:
        main(["predict", path, str(tmp_path / "a.wav"), "--out", str(tmp_path / "p.csv")])
    message = str(info.value.code)
    assert "edited.pt" in message and shown in message and _one_line(message)


# int8 ONNX export and --opset


class _Int8Like(nn.Module):
    """What export_onnx takes for lightops quantize's model (``program``, ``module_for``), around a small float net."""

    def __init__(self):
        super().__init__()
        self.program, self.input_size, self.info = None, (1, 8, 4), {"method": "ptq"}
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(32, 3))

    def module_for(self, input_size):
        return self.net

    def forward(self, x):
        return self.net(x)


def _int8_like():
    from lightops.checkpoint import LoadedModel

    return LoadedModel(_Int8Like().eval(), frontend=FRONTEND, name="dssdn_small", classes=["a", "b", "c"])


def test_int8_export_refuses_an_opset_it_cannot_write(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lightops.deploy.export import export_onnx

    with pytest.raises(ValueError, match=r"opset 17 is older than an int8 checkpoint exports: .* opset 18 or later"):
        export_onnx(_int8_like(), tmp_path / "int8.onnx", opset=17)
    assert not list(tmp_path.iterdir())


def test_int8_export_fails_when_the_exporter_writes_another_opset(tmp_path, monkeypatch):
    """An exporter that writes another opset than asked (as dynamo does below 18) fails the export; nothing is
    written."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lightops.deploy.export import export_onnx

    real = torch.onnx.export

    def ignoring_opset(*args, **kwargs):
        return real(*args, **dict(kwargs, opset_version=20))

    monkeypatch.setattr(torch.onnx, "export", ignoring_opset)
    with pytest.raises(RuntimeError, match="int8 ONNX export wrote opset 20, not the opset 19 asked for"):
        export_onnx(_int8_like(), tmp_path / "int8.onnx", opset=19)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_int8_export_writes_the_opset_asked_for(tmp_path):
    pytest.importorskip("torchao")
    pytest.importorskip("executorch.exir")
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.export import export_onnx
    from lightops.deploy.pt2e import quantize_ptq
    from tests.deploy.conftest import SMALL_INPUT, make_model

    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(8, *SMALL_INPUT, generator=gen) for _ in range(2)]
    q = quantize_ptq(LoadedModel(make_model("dssdn_small", width=0.25), name="dssdn_small"), batches, SMALL_INPUT)
    loaded = LoadedModel(q, name="dssdn_small", frontend=dict(FRONTEND, n_mels=SMALL_INPUT[1]))
    export_onnx(loaded, tmp_path / "int8.onnx", opset=19)
    proto = onnx.load(str(tmp_path / "int8.onnx"))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [19]


def test_int8_export_refuses_the_torchscript_exporter(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lightops.deploy.export import export_onnx

    with pytest.raises(ValueError, match="int8 checkpoint exports with the dynamo exporter only"):
        export_onnx(_int8_like(), tmp_path / "int8.onnx", exporter="torchscript")
    with pytest.raises(ValueError, match="exporter must be one of"):
        export_onnx(_int8_like(), tmp_path / "int8.onnx", exporter="tflite")
    assert not list(tmp_path.iterdir())
