"""The training engine: one optimizer step over its micro-batches, and one epoch of steps.

::

    waveforms (B, N) --[waveform augmentation]--> --FrontEnd--> (B, 1, n_mels, T) --mixup--> --augmentation steps-->
    model --> logits --> sum of the loss components (lightops.train.losses) --> backward

Randomness comes from generators seeded by ``(seed, epoch, micro-batch slot)``
(:func:`~lightops.train.distributed.derive_seed`), never from the global state, so a run is reproducible
whatever the world size and ``--resume`` is exact.
"""
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..audio import FrontEnd, mixup
from .distributed import DistEnv, all_gather_objects, derive_seed
from .evaluation import autocast
from .losses import StepBatch

__all__ = ["Engine", "EpochStats"]

WaveformAugment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
TeacherLookup = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class EpochStats:
    """Running sums of one epoch on this rank."""

    loss_sum: float = 0.0
    correct: int = 0
    count: int = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, hard: torch.Tensor) -> None:
        """Count one micro-batch (``loss`` is its mean label loss)."""
        n = hard.shape[0]
        self.loss_sum += float(loss.detach()) * n
        self.correct += int((logits.detach().argmax(dim=1) == hard).sum())
        self.count += n


@dataclass
class Engine:
    """Everything a training step needs, and the step and epoch themselves.

    Attributes:
        model: the model as trained (a DDP wrapper under ``torchrun``).
        raw_model: the model itself (what penalties inspect and checkpoints save).
        frontend: waveform-to-input module with its augmentation steps.
        optimizer: the optimizer.
        scheduler: timm scheduler, stepped per update.
        losses: loss components (:mod:`lightops.train.losses`); the first is the label loss.
        env: where this process sits.
        num_classes: classes of the targets.
        accum_steps: micro-batches per optimizer step.
        seed: run seed of the augmentation generators.
        mixup_alpha: Beta alpha of mixup (0: off).
        label_smoothing: smoothing of mixup's targets.
        amp: autocast the forward pass.
        scaler: CUDA loss scaler, or None.
        waveform_augment: augmentations of the waveform batch before the front end (device responses, rolling).
        teacher: maps the batch's item indices to the teacher's softened probabilities ``(B, K)``, or None.
        ema: timm's ``ModelEmaV3`` of ``raw_model``, updated after every optimizer step, or None.
        adversary: the device classifier of device-adversarial training
            (:class:`~lightops.train.adversary.DeviceAdversary`), or None; its loss is added to every micro-batch's.
        total_steps: optimizer steps of the whole run (the adversary's ramp).
    """

    model: nn.Module
    raw_model: nn.Module
    frontend: FrontEnd
    optimizer: torch.optim.Optimizer
    scheduler: Any
    losses: Sequence[nn.Module]
    env: DistEnv
    num_classes: int
    accum_steps: int = 1
    seed: int = 0
    mixup_alpha: float = 0.0
    label_smoothing: float = 0.0
    amp: bool = False
    scaler: Optional[Any] = None
    waveform_augment: List[WaveformAugment] = field(default_factory=list)
    teacher: Optional[TeacherLookup] = None
    ema: Optional[Any] = None
    adversary: Optional[Any] = None
    total_steps: int = 1

    @property
    def eval_model(self) -> nn.Module:
        """What is evaluated and saved as the model: the weights' moving average when kept, else the model."""
        return self.ema.module if self.ema is not None else self.model

    def inputs(self, waveform: torch.Tensor, label: torch.Tensor, index: Optional[torch.Tensor],
               gen: torch.Generator, devices: Optional[Sequence[Any]] = None):
        """Model input, targets, hard labels, teacher probabilities and device targets (with an adversary) of one
        micro-batch (augmented; mixup mixes the teacher's probabilities and the device targets like the labels)."""
        for augment in self.waveform_augment:
            waveform = augment(waveform, gen)
        with torch.no_grad():
            x = self.frontend(waveform)  # (B, 1, n_mels, T)
        teacher = self.teacher(index).to(x.device) if self.teacher is not None else None
        device_target = None
        if self.adversary is not None:
            device_target = (self.adversary.one_hot if self.mixup_alpha > 0 else self.adversary.targets)(
                devices, x.device)
        if self.mixup_alpha > 0:
            extras = [e for e in (teacher, device_target) if e is not None]
            mixed = mixup(x, label, self.mixup_alpha, num_classes=self.num_classes,
                          label_smoothing=self.label_smoothing, generator=gen,
                          extra=torch.cat(extras, dim=1) if extras else None)
            x, target = mixed[:2]
            if extras:
                parts = torch.split(mixed[2], [e.shape[1] for e in extras], dim=1)
                teacher = parts[0] if teacher is not None else None
                device_target = parts[-1] if device_target is not None else None
            hard = target.argmax(dim=1)
        else:
            target = hard = label
        return self.frontend.augment(x, gen), target, hard, teacher, device_target

    def step(self, micro_batches: Sequence[Any], gens: Sequence[torch.Generator], stats: EpochStats) -> None:
        """One optimizer step over ``accum_steps`` micro-batches ``(waveform, label, device[, index])``."""
        self.optimizer.zero_grad(set_to_none=True)
        for k, batch in enumerate(micro_batches):
            waveform, label = batch[0].to(self.env.device), batch[1].to(self.env.device)
            index = batch[3] if len(batch) > 3 else None
            x, target, hard, teacher, device_target = self.inputs(waveform, label, index, gens[k], batch[2])
            sync = self.env.distributed and k < self.accum_steps - 1
            with self.model.no_sync() if sync else nullcontext():
                with autocast(self.env.device, self.amp):
                    logits = self.model(x)
                parts = StepBatch(logits.float(), target, self.raw_model, teacher)
                label = self.losses[0].value(parts)  # the label loss, reported unweighted
                total = self.losses[0].weight * label
                for loss in self.losses[1:]:
                    total = total + loss(parts)
                if self.adversary is not None:
                    total = total + self.adversary.loss(device_target)
                total = total / self.accum_steps
                (self.scaler.scale(total) if self.scaler is not None else total).backward()
            stats.add(label, logits, hard)
        if self.adversary is not None:  # scaled gradients under AMP: the scaler checks them after the all-reduce
            self.adversary.sync_grads(self.env)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def epoch(self, loader: Iterator[Any], epoch: int, steps: int, *, progress: bool = False,
              desc: str = "") -> Dict[str, Any]:
        """Train one epoch of ``steps`` optimizer steps; returns the epoch's record (all ranks' sums)."""
        gens = [torch.Generator().manual_seed(derive_seed(self.seed, epoch, self.env.rank * self.accum_steps + k, 2))
                for k in range(self.accum_steps)]
        self.model.train()
        self.frontend.train()
        t0 = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        stats = EpochStats()
        batches = iter(loader)
        bar = tqdm(range(steps), desc=desc, leave=False, disable=not progress)
        for step in bar:
            if self.adversary is not None:
                self.adversary.progress = (epoch * steps + step) / max(1, self.total_steps)
            self.step([next(batches) for _ in range(self.accum_steps)], gens, stats)
            if self.ema is not None:
                self.ema.update(self.raw_model, step=epoch * steps + step + 1)
            self.scheduler.step_update(num_updates=epoch * steps + step + 1)
            if progress:
                bar.set_postfix(loss=f"{stats.loss_sum / stats.count:.3f}", acc=f"{stats.correct / stats.count:.3f}")
        bar.close()
        self.scheduler.step(epoch + 1)
        seconds = time.perf_counter() - t0
        sums = np.sum([p for p in all_gather_objects((stats.loss_sum, stats.correct, stats.count), self.env)], axis=0)
        return dict(epoch=epoch + 1, lr=lr, steps=steps, train_loss=float(sums[0] / sums[2]),
                    train_accuracy=float(sums[1] / sums[2]), train_seconds=seconds, eval_loss=None,
                    eval_accuracy=None, eval_seen_accuracy=None, eval_unseen_accuracy=None, eval_seconds=None)

