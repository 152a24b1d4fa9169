"""QAT is resumable: one epoch, stopped, then resumed ends with the same int8 program as two epochs in one call; a
state written with other options is refused."""
import pytest
import torch
import torch.nn as nn

pytest.importorskip("torchao")
pytest.importorskip("executorch.exir")

from lightops.checkpoint import LoadedModel  # noqa: E402
from lightops.deploy.pt2e import quantize_qat  # noqa: E402

SIZE = (1, 8, 8)


def _tiny() -> LoadedModel:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    return LoadedModel(net.eval(), name="tiny")


def _epoch(e):
    gen = torch.Generator().manual_seed(e)
    return [(torch.randn(4, *SIZE, generator=gen), torch.randint(0, 3, (4,), generator=gen)) for _ in range(2)]


def test_stopped_and_resumed_qat_equals_one_call(tmp_path):
    loaded, x = _tiny(), torch.randn(8, *SIZE, generator=torch.Generator().manual_seed(9))
    whole = quantize_qat(loaded, _epoch, SIZE, num_epochs=2, lr=1e-2)
    state = str(tmp_path / "qat_state.pt")
    assert quantize_qat(loaded, _epoch, SIZE, num_epochs=2, lr=1e-2, state_path=state, stop_after=1) is None
    lines = []
    resumed = quantize_qat(loaded, _epoch, SIZE, num_epochs=2, lr=1e-2, state_path=state, log=lines.append)
    assert "resumed" in lines[0] and len(lines) == 2  # the resume line, then epoch 2 only
    assert resumed.info["qat_losses"] == whole.info["qat_losses"]
    with torch.no_grad():
        assert torch.allclose(resumed(x), whole(x), atol=1e-6)
    with pytest.raises(ValueError, match="options differ.*lr"):
        quantize_qat(loaded, _epoch, SIZE, num_epochs=2, lr=1e-3, state_path=state)
