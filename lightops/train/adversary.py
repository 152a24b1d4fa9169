"""Device-adversarial training: a device classifier on the model's pooled features, its gradient reversed into the
model (domain-adversarial training, Ganin & Lempitsky, ICML 2015; for acoustic scene classification across
recording devices, Gharib et al., DCASE 2018 workshop).

::

    model ... -> features (B, C[, F, T]) -> classifier -> scene logits           label loss
                        |
                        +-- mean over F, T -> GradReverse(s) -> Linear(C, D) -> device logits   cross-entropy

The device classifier learns to name the training device of each clip; the model receives the negative of that
gradient, scaled by ``s``, so it learns features the classifier cannot separate by device. ``s`` ramps from 0 to
the weight over the run with DANN's schedule ``2 / (1 + exp(-10 p)) - 1`` (``p``: the fraction of updates done), so
the first updates shape the scene features before the reversal takes hold. The features are the input of the
model's classifier (timm's ``get_classifier()``), read by a forward pre-hook: any model with a timm classifier
works, lightops' own and timm's.
"""
import math
from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.loss import SoftTargetCrossEntropy

from .distributed import DistEnv

__all__ = ["GradReverse", "DeviceAdversary", "dann_ramp"]


class GradReverse(torch.autograd.Function):
    """Identity in the forward pass; the gradient times ``-scale`` in the backward pass."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``x`` itself (a view)."""
        ctx.scale = float(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        """``-scale * grad`` for ``x``; nothing for ``scale``."""
        return -ctx.scale * grad, None


def dann_ramp(progress: float) -> float:
    """DANN's schedule of the reversal: ``2 / (1 + exp(-10 p)) - 1`` for ``p`` in [0, 1] (0 at the start, 0.987 at
    half the run, 1 at the end)."""
    p = min(max(float(progress), 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


class DeviceAdversary(nn.Module):
    """The device classifier of device-adversarial training, attached to ``model``'s classifier input.

    Args:
        model: the model being trained; its ``get_classifier()`` input is the feature (``(B, C)`` or ``(B, C, F, T)``,
            averaged over ``F, T``).
        devices: the training devices, in the order of the classifier's outputs (at least two).
        weight: the largest reversal scale (reached at the end of the ramp), > 0.
        example: one model input batch (for the feature width; run in eval mode, no statistics change).

    Params: ``(C + 1) D`` for ``C`` feature channels and ``D`` devices (training only: not part of the model).
    """

    def __init__(self, model: nn.Module, devices: Sequence[str], weight: float, example: torch.Tensor) -> None:
        super().__init__()
        self.devices = [str(d) for d in devices]
        if len(set(self.devices)) < 2:
            raise ValueError(f"device-adversarial training needs training clips of at least two devices, got "
                             f"{self.devices}")
        if not weight > 0:
            raise ValueError(f"device-adversarial weight must be > 0, got {weight!r}")
        classifier = model.get_classifier() if callable(getattr(model, "get_classifier", None)) else None
        if not isinstance(classifier, nn.Module) or isinstance(classifier, nn.Identity):
            raise ValueError(f"device-adversarial training reads the input of the model's classifier "
                             f"(get_classifier()); {type(model).__name__} has none")
        self.index = {d: i for i, d in enumerate(self.devices)}
        self.weight = float(weight)
        self.progress = 0.0
        self._features: Optional[torch.Tensor] = None
        self._handle = classifier.register_forward_pre_hook(self._capture)
        was_training = model.training
        model.eval()
        self._capture_eval = True
        with torch.no_grad():
            model(example)
        self._capture_eval = False
        model.train(was_training)
        width = self.pool(self._take()).shape[1]
        param = next(model.parameters())
        self.fc = nn.Linear(width, len(self.devices), device=param.device, dtype=param.dtype)

    def _capture(self, module: nn.Module, inputs: Any) -> None:
        if module.training or self._capture_eval:  # evaluation passes (and EMA copies) keep nothing
            self._features = inputs[0]

    def _take(self) -> torch.Tensor:
        features, self._features = self._features, None
        if features is None:
            raise RuntimeError("DeviceAdversary: no features captured: call the model in training mode first")
        return features

    @staticmethod
    def pool(x: torch.Tensor) -> torch.Tensor:
        """Features ``(B, C)``: the mean over every axis after the channels."""
        return x.flatten(2).mean(dim=2) if x.dim() > 2 else x

    def scale(self) -> float:
        """The reversal scale now: ``weight * dann_ramp(progress)``."""
        return self.weight * dann_ramp(self.progress)

    def targets(self, devices: Sequence[Any], device: torch.device) -> torch.Tensor:
        """Class indices ``(B,)`` of the batch's device names.

        Raises:
            ValueError: a device that is not one of the training devices.
        """
        unknown = sorted({str(d) for d in devices} - set(self.index))
        if unknown:
            raise ValueError(f"device-adversarial training: devices {unknown} are not among the training devices "
                             f"{self.devices}")
        return torch.tensor([self.index[str(d)] for d in devices], device=device)

    def one_hot(self, devices: Sequence[Any], device: torch.device) -> torch.Tensor:
        """One-hot targets ``(B, D)`` (float), for mixing with the inputs."""
        return F.one_hot(self.targets(devices, device), len(self.devices)).float()

    def loss(self, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the device classifier on the features of the last training forward pass, through the
        gradient reversal; ``target``: indices ``(B,)`` or soft targets ``(B, D)`` (mixup)."""
        logits = self.fc(GradReverse.apply(self.pool(self._take()).float(), self.scale()).to(self.fc.weight.dtype))
        logits = logits.float()
        return SoftTargetCrossEntropy()(logits, target) if target.dim() == 2 else F.cross_entropy(logits, target)

    def sync_grads(self, env: DistEnv) -> None:
        """Average the classifier's gradients over the processes (it sits outside the DDP wrapper)."""
        if not env.distributed:
            return
        for p in self.parameters():
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad /= env.world_size

    def close(self) -> None:
        """Remove the hook from the model's classifier (the model is used on its own afterwards)."""
        self._handle.remove()
        self._features = None
