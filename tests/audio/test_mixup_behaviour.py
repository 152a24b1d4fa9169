"""mixup must mix: inputs and targets change for lam < 1, consistently."""
import torch
import torch.nn.functional as F

from lightops import mixup


def test_mixup_changes_inputs_and_targets_consistently():
    x = torch.randn(8, 1, 4, 5)
    y = torch.arange(8)  # one class per example: a target row names both mixed examples
    xm, ym = mixup(x, y, alpha=0.4, num_classes=8, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(xm, x) and not torch.equal(ym, F.one_hot(y, 8).float())
    for i in range(8):
        lam = float(ym[i, i])
        others = ym[i].clone()
        others[i] = 0
        j = int(others.argmax()) if lam < 1 else i
        assert 0 < lam <= 1 and torch.allclose(xm[i], lam * x[i] + (1 - lam) * x[j], atol=1e-6)
    assert torch.allclose(ym.sum(dim=1), torch.ones(8))


def test_mixup_with_alpha_zero_is_identity():
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    xm, ym = mixup(x, y, alpha=0.0, num_classes=3)
    assert torch.equal(xm, x) and torch.equal(ym, F.one_hot(y, 3).float())
