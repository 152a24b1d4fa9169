"""Loss components: the label loss honours label smoothing and mixup's soft targets; weights add up."""
import torch
import torch.nn.functional as F

from lightops.train.losses import LabelLoss, StepBatch, total_loss


def test_label_smoothing_is_applied():
    logits, target = torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 0])
    batch = StepBatch(logits, target, torch.nn.Identity())
    assert torch.allclose(LabelLoss(False, 0.1)(batch), F.cross_entropy(logits, target, label_smoothing=0.1))
    assert not torch.allclose(LabelLoss(False, 0.1)(batch), LabelLoss(False, 0.0)(batch))


def test_soft_targets_and_weights():
    logits = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    soft = torch.softmax(torch.randn(3, 4, generator=torch.Generator().manual_seed(2)), dim=1)
    batch = StepBatch(logits, soft, torch.nn.Identity())
    expected = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert torch.allclose(LabelLoss(True)(batch), expected)
    assert torch.allclose(total_loss([LabelLoss(True, weight=0.5), LabelLoss(True, weight=0.25)], batch),
                          0.75 * expected)
