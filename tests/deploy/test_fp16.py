"""fp16 deployment: ONNX with float16-stored weights and the packaged PyTorch models give logits within 1e-2 of the
float32 model; lightops eval --dtype fp16 reports the accuracy change."""
import json

import numpy as np
import pytest
import torch

from lightops.checkpoint import load_model, read_checkpoint, save_checkpoint
from lightops.cli import main
from lightops.deploy.package import packaged_checkpoint
from lightops.deploy.submission import SubmissionModel


@pytest.fixture(scope="module")
def waves():
    return (0.05 * torch.randn(3, 8000, generator=torch.Generator().manual_seed(0))).float()


def _fp32_logits(ckpt_path, waves):
    loaded = load_model(ckpt_path)
    with torch.no_grad():
        return loaded.model(loaded.front_end()(waves))


def test_onnx_fp16_weights_within_1e2(trained_tau_run, tmp_path, waves):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from lightops.deploy.onnx_runtime import ort_session

    _, ckpt, _ = trained_tau_run
    out = tmp_path / "m16.onnx"
    assert main(["export", ckpt, "--out", str(out), "--dtype", "fp16", "--with-frontend"]) == 0
    proto = onnx.load(str(out))
    kinds = {i.data_type for i in proto.graph.initializer if len(i.dims)}
    assert onnx.TensorProto.FLOAT16 in kinds and onnx.TensorProto.FLOAT not in kinds
    session = ort_session(str(out))
    got = session.run(None, {session.get_inputs()[0].name: waves.numpy()})[0]
    ref = _fp32_logits(ckpt, waves).numpy()
    assert np.abs(got - ref).max() <= 1e-2 * max(1.0, np.abs(ref).max())


def test_packaged_fp16_model_within_1e2(trained_tau_run, tmp_path, waves):
    _, ckpt, _ = trained_tau_run
    path = tmp_path / "model.pt"
    save_checkpoint(packaged_checkpoint(read_checkpoint(ckpt), "fp16"), path)
    assert read_checkpoint(path)["state_dict"]["head.fc.weight"].dtype == torch.float16
    model = SubmissionModel.load(path)
    assert model.dtype == torch.float16
    ref = torch.log_softmax(_fp32_logits(ckpt, waves), dim=-1)
    got = torch.stack(model.logits(list(waves), [None] * 3, use_cuda=False))  # float32 compute, fp16 weights
    assert (got - ref).abs().max() <= 1e-2
    with torch.no_grad():  # and computed in half precision throughout (CPU float16 kernels)
        half = model.general(model.frontend(waves).half()).float()
    assert (torch.log_softmax(half, -1) - ref).abs().max() <= 1e-2


def test_eval_reports_the_fp16_accuracy_change(trained_tau_run, tmp_path):
    root, ckpt, _ = trained_tau_run
    assert main(["eval", ckpt, "--data", root, "--out", str(tmp_path), "--dtype", "fp16", "--quiet"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["dtype"] == "fp16" and abs(metrics["accuracy_change_points"]) < 100
    assert metrics["accuracy_change_points"] == pytest.approx(100 * (metrics["accuracy"] - metrics["accuracy_fp32"]))
