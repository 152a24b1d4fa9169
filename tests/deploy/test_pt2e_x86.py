"""PTQ and QAT for the x86 backend (torchao's X86InductorQuantizer): they agree with fp32, PTQ round-trips through a
checkpoint value, eval and predict accept its checkpoint, and ExecuTorch export refuses it in one line."""
import json

import pytest
import torch
import torch.nn as nn

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.executorch import export_executorch  # noqa: E402
from lightops.deploy.pt2e import QuantizedModel, quantize_ptq, quantize_qat, top1_agreement  # noqa: E402

SIZE = (1, 16, 16)


@pytest.fixture(scope="module")
def x86():
    torch.manual_seed(0)
    act = nn.ReLU()  # one module called twice, as DSSDB's act: the quantizer's patterns must still match
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), act, nn.Conv2d(8, 8, 3, padding=1), act,
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
    inputs = torch.randn(16, *SIZE, generator=torch.Generator().manual_seed(1))
    return net, inputs, quantize_ptq(LoadedModel(net, name="tiny"), [inputs], SIZE, backend="x86")


def test_x86_ptq_agrees_with_fp32_and_round_trips(x86):
    net, x, q = x86
    assert q.info["backend"] == "x86"
    again = QuantizedModel.from_checkpoint(q.to_checkpoint(), net)
    with torch.no_grad():
        agree, prob = top1_agreement(net(x), again(x))
        assert torch.equal(again(x), q(x))
    assert agree >= 0.8 and prob < 0.1


def test_x86_qat_observes_activations_by_histogram_and_converts(x86):
    """QAT for x86 gets the histogram activation observer too (its own config has min/max), and still converts."""
    net, x, _ = x86
    labels = torch.arange(16) % 10
    q = quantize_qat(LoadedModel(net, name="tiny"), lambda e: iter([(x, labels)]), SIZE, num_epochs=1,
                     backend="x86")
    assert q.info["backend"] == "x86" and q.info["activation_observer"] == "HistogramObserver, 1 batch in 8"
    with torch.no_grad():
        agree, prob = top1_agreement(net(x), q(x))
    assert agree >= 0.8 and prob < 0.1


def test_executorch_refuses_x86(x86, tmp_path):
    with pytest.raises(ValueError, match="quantized for the 'x86' backend"):
        export_executorch(LoadedModel(x86[2], name="tiny"), tmp_path / "x.pte")
    assert not (tmp_path / "x.pte").exists()


@pytest.mark.slow
def test_x86_checkpoint_is_accepted_by_eval_and_predict(trained_tau_run, tmp_path, capsys):
    from lightops.cli import main

    root, ckpt, _ = trained_tau_run
    out = tmp_path / "int8"
    assert main(["quantize", ckpt, "--data", root, "--out", str(out), "--backend", "x86", "--calibration-clips", "8",
                 "--quiet"]) == 0
    rows = json.loads((out / "quantize.json").read_text())["results"]
    assert rows["ptq"]["backend"] == "x86" and 0 <= rows["ptq"]["accuracy"] <= 1
    ptq = str(out / "ptq.pt")
    assert main(["eval", ptq, "--data", root, "--out", str(tmp_path / "eval"), "--quiet"]) == 0
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["accuracy"] == pytest.approx(
        rows["ptq"]["accuracy"])
    assert main(["predict", ptq, f"{root}/audio", "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    assert main(["export", ptq, "--format", "executorch", "--out", str(tmp_path / "x.pte")]) == 2  # bad input
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "quantized for the 'x86' backend" in err[0]
