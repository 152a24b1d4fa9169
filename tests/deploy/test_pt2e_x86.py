"""PTQ for the x86 backend (torchao's X86InductorQuantizer): it agrees with fp32, round-trips through a checkpoint
value, and ExecuTorch export refuses it in one line."""
import pytest
import torch
import torch.nn as nn

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.executorch import export_executorch  # noqa: E402
from lightops.deploy.pt2e import QuantizedModel, quantize_ptq, top1_agreement  # noqa: E402

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


def test_executorch_refuses_x86(x86, tmp_path):
    with pytest.raises(ValueError, match="quantized for the 'x86' backend"):
        export_executorch(LoadedModel(x86[2], name="tiny"), tmp_path / "x.pte")
    assert not (tmp_path / "x.pte").exists()
