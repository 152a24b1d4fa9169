"""Losses as components: the training step sums what each component returns, so a penalty or a distillation
term plugs in without touching the loop.

A component is called with a :class:`StepBatch` (the logits of the micro-batch, its targets, the model) and
returns a scalar tensor already weighted. :func:`build_losses` assembles the components a
:class:`~lightops.train.TrainConfig` asks for:

- :class:`LabelLoss`: cross-entropy with the labels (soft targets under mixup; label smoothing otherwise);
- :class:`OrthoPenalty`: OSC's orthonormal penalty ``alpha * sum ||W W^T - I||_F`` over soft OSC layers;
- :class:`DistillationLoss`: knowledge distillation from stored teacher logits (Hinton et al. 2015),
  ``T^2 KL(softmax(teacher / T) || softmax(student / T))``; with it the label loss gets weight ``w`` and the
  distillation term ``1 - w`` (CP-JKU's DCASE 2023 recipe: ``w = 0.02``, ``T = 2``).
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.loss import SoftTargetCrossEntropy

from ..ops import OrthoSeparableConv2d, ortho_reg_loss

__all__ = ["StepBatch", "LabelLoss", "OrthoPenalty", "DistillationLoss", "kd_loss", "has_soft_osc", "build_losses",
           "total_loss"]


@dataclass
class StepBatch:
    """What a loss component may read about one micro-batch.

    Attributes:
        logits: the student's outputs ``(B, K)`` (float32).
        target: class indices ``(B,)`` or soft targets ``(B, K)`` (mixup).
        model: the model being trained (unwrapped from DDP).
        teacher_probs: the teacher's softened probabilities ``(B, K)``, mixed like the inputs, or None.
    """

    logits: torch.Tensor
    target: torch.Tensor
    model: nn.Module
    teacher_probs: Optional[torch.Tensor] = None


class LabelLoss(nn.Module):
    """Cross-entropy with the labels: soft-target CE under mixup, else CE with label smoothing; times ``weight``.

    Args:
        soft: targets are soft ``(B, K)`` (mixup).
        label_smoothing: smoothing of index targets.
        weight: factor on the loss.
    """

    name = "label"

    def __init__(self, soft: bool, label_smoothing: float = 0.0, weight: float = 1.0) -> None:
        super().__init__()
        self.fn = SoftTargetCrossEntropy() if soft else nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.weight = weight

    def value(self, batch: StepBatch) -> torch.Tensor:
        """The unweighted loss of ``batch`` (what the training log reports)."""
        return self.fn(batch.logits, batch.target)

    def forward(self, batch: StepBatch) -> torch.Tensor:
        """The weighted loss of ``batch``."""
        return self.weight * self.value(batch)


class OrthoPenalty(nn.Module):
    """OSC's orthonormal penalty (:func:`lightops.ortho_reg_loss`) with weight ``alpha``."""

    name = "ortho"

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, batch: StepBatch) -> torch.Tensor:
        """The penalty of the model's soft OSC layers."""
        return ortho_reg_loss(batch.model, self.alpha)


def kd_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(teacher || softmax(student / T))``, batch mean; ``teacher_probs`` already softened by ``T``.

    Shape:
        ``(B, K), (B, K) -> ()``.
    """
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    return temperature ** 2 * F.kl_div(log_student, teacher_probs, reduction="batchmean")


class DistillationLoss(nn.Module):
    """Knowledge distillation from stored teacher probabilities, weighted ``1 - label_weight``.

    Args:
        temperature: the softmax temperature ``T`` of teacher and student.
        label_weight: ``w``, the weight the label loss gets; this term gets ``1 - w``.
    """

    name = "kd"

    def __init__(self, temperature: float = 2.0, label_weight: float = 0.02) -> None:
        super().__init__()
        self.temperature, self.weight = temperature, 1.0 - label_weight

    def forward(self, batch: StepBatch) -> torch.Tensor:
        """The weighted distillation loss of ``batch``."""
        if batch.teacher_probs is None:
            raise ValueError("DistillationLoss: the batch carries no teacher probabilities")
        return self.weight * kd_loss(batch.logits, batch.teacher_probs, self.temperature)


def has_soft_osc(model: nn.Module) -> bool:
    """Whether ``model`` holds OSC layers with the soft (penalised) orthonormal mode."""
    return any(isinstance(m, OrthoSeparableConv2d) and m.orthogonal == "soft" for m in model.modules())


def build_losses(model: nn.Module, *, mixup: bool, label_smoothing: float, ortho_alpha: float,
                 kd_temperature: Optional[float] = None, kd_weight: float = 0.02) -> List[nn.Module]:
    """The components of a run: the label loss, OSC's penalty when the model has soft OSC, distillation when
    ``kd_temperature`` is given (a teacher is set).

    Returns:
        The components; the label loss is first (its value is what the training log reports).
    """
    kd = kd_temperature is not None
    losses: List[nn.Module] = [LabelLoss(mixup, label_smoothing, kd_weight if kd else 1.0)]
    if has_soft_osc(model):
        losses.append(OrthoPenalty(ortho_alpha))
    if kd:
        losses.append(DistillationLoss(kd_temperature, kd_weight))
    return losses


def total_loss(losses: Sequence[nn.Module], batch: StepBatch) -> torch.Tensor:
    """Sum of the components on ``batch``."""
    return sum((loss(batch) for loss in losses), torch.zeros((), device=batch.logits.device))
