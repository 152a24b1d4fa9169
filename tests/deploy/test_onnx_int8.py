"""int8 ONNX from the PT2E program (one calibration for PyTorch, ExecuTorch and ONNX Runtime): written through
export_onnx, agrees with the quantized PyTorch model, carries predict's metadata; the uint8 rewrite is exact."""
import json

import numpy as np
import pytest
import torch

from tests.deploy.conftest import SMALL_INPUT, make_model

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.export import export_onnx  # noqa: E402
from lightops.deploy.onnx_int8 import activations_as_uint8  # noqa: E402
from lightops.deploy.pt2e import quantize_ptq  # noqa: E402

FRONTEND = {"sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "n_mels": SMALL_INPUT[1], "mean": -20.0,
            "std": 12.0}


def _batches(n, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(8, *SMALL_INPUT, generator=gen) for _ in range(n)]


@pytest.fixture(scope="module")
def int8():
    model = make_model("dssdn_small")
    q = quantize_ptq(LoadedModel(model, name="dssdn_small"), _batches(4, 0), SMALL_INPUT, form="speed")
    return LoadedModel(q, name="dssdn_small", frontend=FRONTEND)


@pytest.fixture(scope="module")
def exported(int8, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "small_int8.onnx"
    return out, export_onnx(int8, out)


def _session(path, level=None):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if level is not None:
        so.graph_optimization_level = level
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def test_int8_checkpoint_exports_its_own_program(int8, exported):
    out, result = exported
    assert out.is_file() and sorted(p.name for p in out.parent.iterdir()) == ["small_int8.onnx"]
    assert result.input_shape == SMALL_INPUT and result.qdq_nodes > 0 and "top-1 agreement" in result.summary()
    proto = onnx.load(str(out))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["lightops.input"] == "logmel" and meta["lightops.int8"]["method"] == "ptq"
    assert 1 + meta["lightops.clip_samples"] // FRONTEND["hop_length"] == SMALL_INPUT[2]  # predict's window
    init = {i.name: i for i in proto.graph.initializer}
    activation_zero_points = [init[n.input[2]] for n in proto.graph.node
                              if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] not in init]
    assert activation_zero_points and all(z.data_type == onnx.TensorProto.UINT8 for z in activation_zero_points)
    weights = [init[n.input[0]] for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in init]
    assert weights and all(w.data_type == onnx.TensorProto.INT8 for w in weights)  # the program's int8 weights
    # onnxruntime's int8 kernels round differently from PyTorch's reference ones: close, same classes
    x = int8.norm[0] + int8.norm[1] * torch.cat(_batches(2, 5))
    got = _session(out).run(None, {"logmel": x.numpy()})[0]
    with torch.no_grad():
        ref = int8.model((x - int8.norm[0]) / int8.norm[1]).numpy()
    assert np.abs(got - ref).max() <= 0.2 * np.abs(ref).max()  # a few output steps
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.75
    # batch is dynamic, (C, F, T) is the program's
    assert _session(out).run(None, {"logmel": x[:3].numpy()})[0].shape == (3, ref.shape[1])


def test_uint8_activations_are_exact(exported, tmp_path):
    """With onnxruntime's graph optimisations off, Q/DQ run as written: the rewrite changes no value."""
    proto = onnx.load(str(exported[0]))
    assert activations_as_uint8(proto) == 0  # already done by the export
    x = torch.cat(_batches(1, 7)).numpy() * 12.0 - 20.0
    # undo it: int8 zero points again (z - 128), the file the exporter wrote
    init = {i.name: i for i in proto.graph.initializer}
    for i in list(init.values()):
        if i.data_type == onnx.TensorProto.UINT8:
            a = onnx.numpy_helper.to_array(i).astype(np.int16) - 128
            i.CopyFrom(onnx.numpy_helper.from_array(a.astype(np.int8), i.name))
    signed = tmp_path / "signed.onnx"
    onnx.save(proto, str(signed))
    again = onnx.load(str(signed))
    assert activations_as_uint8(again) > 0
    unsigned = tmp_path / "unsigned.onnx"
    onnx.save(again, str(unsigned))
    off = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    a = _session(signed, off).run(None, {"logmel": x})[0]
    b = _session(unsigned, off).run(None, {"logmel": x})[0]
    assert np.array_equal(a, b)


def test_int8_export_refuses_other_inputs(int8, tmp_path):
    with pytest.raises(ValueError, match="int8 checkpoint"):
        export_onnx(int8, tmp_path / "x.onnx", with_frontend=True)
    with pytest.raises(ValueError, match="int8 checkpoint"):
        export_onnx(int8, tmp_path / "x.onnx", (1, SMALL_INPUT[1], SMALL_INPUT[2] + 4))
    assert not list(tmp_path.iterdir())
