"""Evaluation: a model on a data set (under DDP, sharded and gathered), and a checkpoint on its evaluate split."""
import os
import sys
import time
from contextlib import nullcontext
from typing import Any, ContextManager, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from ..audio import FrontEnd
from ..checkpoint import check_classes, load_model, read_checkpoint
from ..fileio import atomic_write_json, check_writable_dir
from .config import SYNTHETIC, TrainConfig
from .data import build_datasets, preflight
from .distributed import DistEnv, all_gather_objects, cleanup_distributed, init_distributed, unwrap_model
from .isolation import isolated_state
from .metrics import classification_metrics
from .plots import plot_confusion_matrix
from .teacher import check_distinct

__all__ = ["evaluate", "evaluate_checkpoint", "MeanLogits", "autocast", "METRICS_NAME", "CONFUSION_NAME", "pct",
           "default_eval_dir"]

METRICS_NAME = "metrics.json"
CONFUSION_NAME = "confusion.png"


def autocast(device: torch.device, enabled: bool) -> ContextManager:
    """Mixed precision on ``device`` (bfloat16 on CPU, float16 on CUDA) when ``enabled``."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


def pct(x: Optional[float]) -> str:
    """``"12.3%"``, or ``"n/a"`` for None."""
    return "n/a" if x is None else f"{x:.1%}"


class MeanLogits(nn.Module):
    """An ensemble: the mean of its members' logits on the same input, as a teacher ensemble combines checkpoints
    (:func:`~lightops.train.teacher.compute_teacher_logits`)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("MeanLogits: an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, num_classes)``: the members' mean logits (float32)."""
        return torch.stack([m(x).float() for m in self.members]).mean(0)


@torch.no_grad()
def evaluate(model: nn.Module, frontend: FrontEnd, dataset: Dataset, *, classes: Sequence[str],
             seen_devices: Optional[Sequence[str]] = None, env: Optional[DistEnv] = None, batch_size: int = 64,
             workers: int = 0, amp: bool = False, progress: bool = False) -> Dict[str, Any]:
    """Evaluate ``model`` on ``dataset``: the dict of :func:`~lightops.train.metrics.classification_metrics`.

    Under DDP every rank evaluates the items ``rank::world_size`` and the results are gathered, so every rank
    returns the same dict. The model and front end are put in eval mode.

    Args:
        model: the classifier (a DDP wrapper is unwrapped).
        frontend: waveform-to-log-mel module.
        dataset: items ``(waveform, label, device)``.
        classes: class names.
        seen_devices: devices of the training data (the others are reported as unseen).
        env: distributed environment (None: single process on the model's device).
        batch_size: clips per batch.
        workers: DataLoader worker processes.
        amp: autocast the model (bfloat16 on CPU, float16 on CUDA).
        progress: show a progress bar.
    """
    model = unwrap_model(model)
    device = next(model.parameters()).device
    env = env or DistEnv(device=device)
    model.eval()
    frontend.eval().to(device)
    indices = list(range(env.rank, len(dataset), env.world_size))
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
    logits, labels, devices = [], [], []
    for waveform, label, dev in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        with autocast(device, amp):
            out = model(frontend(waveform.to(device)))
        logits.append(out.float().cpu())
        labels.append(label)
        devices.extend(dev)
    local = (indices, torch.cat(logits) if logits else torch.zeros(0, len(classes)),
             torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long), devices)
    parts = all_gather_objects(local, env)
    order = np.argsort(np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts]), kind="stable")
    all_logits = torch.cat([p[1] for p in parts])[order]
    all_labels = torch.cat([p[2] for p in parts])[order]
    all_devices = [d for p in parts for d in p[3]]
    all_devices = [all_devices[i] for i in order]
    return classification_metrics(all_logits, all_labels, all_devices, classes, seen_devices)


def default_eval_dir(checkpoint: str) -> str:
    """Where an evaluation of ``checkpoint`` writes without an output folder given: ``eval/`` beside the checkpoint."""
    return os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "eval")


def evaluate_checkpoint(checkpoint: Union[str, Sequence[str]], data: str = SYNTHETIC, out: Optional[str] = None, *,
                        batch_size: int = 64, workers: int = 0, num_clips: Optional[int] = None,
                        device: Optional[str] = None, threads: Optional[int] = None,
                        quiet: bool = True) -> Dict[str, Any]:
    """Evaluate a training checkpoint, or an ensemble of them, on the ``evaluate`` split of ``data``; write
    ``metrics.json`` and a PNG.

    The front end, clip length and synthetic-data settings are those the (first) checkpoint was trained with. An
    ensemble (several paths) is evaluated on the mean of its members' logits (:class:`MeanLogits`); its members must
    share classes, front end and training devices, and ``out`` must be given.

    Args:
        checkpoint: path of a ``last.pt``, or several (an ensemble).
        data: ``"synthetic"`` or a TAU 2020 Mobile folder.
        out: output folder (None: ``eval/`` next to the checkpoint; required for an ensemble).
        batch_size: clips per batch.
        workers: DataLoader worker processes.
        num_clips: synthetic evaluation clips (None: as in training).
        device: ``"cpu"`` or ``"cuda"`` (None: CUDA when available).
        threads: torch intra-op threads during the call (None: unchanged); restored afterwards.
        quiet: no progress bar and summary line.

    Returns:
        The content of the written ``metrics.json``.

    Raises:
        ValueError: an ensemble without ``out``, or members that differ in classes, front end or training devices
            (both named).
    """
    one = isinstance(checkpoint, (str, os.PathLike))
    paths = [os.fspath(checkpoint)] if one else [os.fspath(p) for p in checkpoint]
    if not paths:
        raise ValueError("evaluate_checkpoint: no checkpoint given")
    ckpts = [read_checkpoint(p) for p in paths]
    if len(paths) > 1:
        _check_members(paths, ckpts)
        if out is None:
            raise ValueError(f"an ensemble of {len(paths)} checkpoints needs an output folder (--out)")
    with isolated_state(threads):
        env = init_distributed(device)
        try:
            return _evaluate_checkpoint(ckpts, paths, data, out, env, batch_size=batch_size, workers=workers,
                                        num_clips=num_clips, quiet=quiet)
        finally:
            cleanup_distributed(env)


def _check_members(paths: List[str], ckpts: List[Dict[str, Any]]) -> None:
    """Refuse an ensemble whose members differ in classes, front end or training devices (naming both), or that
    names one file twice."""
    check_distinct(paths, "ensemble member")
    first = ckpts[0]
    for path, ckpt in zip(paths[1:], ckpts[1:]):
        if ckpt.get("device_models") or first.get("device_models"):
            raise ValueError("an ensemble takes training checkpoints, not per-device fine-tuned ones "
                             f"({paths[0]!r}, {path!r})")
        check_classes(list(first.get("classes") or []), list(ckpt.get("classes") or []),
                      f"ensemble member {path!r} against {paths[0]!r}")
        for key, what in (("frontend", "front end"), ("train_devices", "training devices")):
            if ckpt.get(key) != first.get(key):
                raise ValueError(f"ensemble member {path!r} has another {what} than {paths[0]!r}: "
                                 f"{ckpt.get(key)} against {first.get(key)}")


def _evaluate_checkpoint(ckpts: List[Dict[str, Any]], paths: List[str], data: str, out: Optional[str],
                         env: DistEnv, *, batch_size: int, workers: int, num_clips: Optional[int],
                         quiet: bool) -> Dict[str, Any]:
    ckpt, checkpoint = ckpts[0], paths[0]
    saved_args = ckpt.get("args", {})
    args = TrainConfig.from_dict(dict(saved_args, data=data, resume=False,
                                      num_eval_clips=num_clips or saved_args.get("num_eval_clips")))
    _, eval_set = build_datasets(args)
    preflight(eval_set, "evaluate")
    out = check_writable_dir(out or default_eval_dir(checkpoint))
    classes = list(ckpt.get("classes") or eval_set.classes)
    check_classes(classes, eval_set.classes, f"the data {data!r} against the checkpoint {checkpoint!r}")
    members = [load_model(c, source=p).model.to(env.device) for c, p in zip(ckpts, paths)]
    model = members[0] if len(members) == 1 else MeanLogits(members)
    frontend = FrontEnd.from_config(ckpt["frontend"]).to(env.device)
    t0 = time.perf_counter()
    metrics = evaluate(model, frontend, eval_set, classes=classes, seen_devices=ckpt.get("train_devices"),
                       env=env, batch_size=batch_size, workers=workers,
                       progress=env.is_main and not quiet and sys.stderr.isatty())
    one = len(ckpts) == 1
    name = ckpt["model"] if one else f"ensemble of {len(ckpts)} ({', '.join(c['model'] for c in ckpts)})"
    result = dict(checkpoint=os.path.abspath(checkpoint) if one else [os.path.abspath(p) for p in paths],
                  model=ckpt["model"] if one else [c["model"] for c in ckpts],
                  model_kwargs=ckpt["model_kwargs"] if one else [c["model_kwargs"] for c in ckpts],
                  epoch=ckpt.get("epoch") if one else [c.get("epoch") for c in ckpts], classes=classes, **metrics,
                  data=dict(source=data, eval_clips=len(eval_set), train_devices=ckpt.get("train_devices")),
                  eval_seconds=time.perf_counter() - t0)
    if env.is_main:
        atomic_write_json(result, os.path.join(out, METRICS_NAME))
        plot_confusion_matrix(metrics["confusion_matrix"], classes, os.path.join(out, CONFUSION_NAME),
                              title=f"{name}: accuracy {metrics['accuracy']:.1%}")
        if not quiet:
            epoch = f" epoch {ckpt.get('epoch')}" if one else ""
            print(f"{name}{epoch}: accuracy {metrics['accuracy']:.1%} (seen "
                  f"{pct(metrics['seen']['accuracy'])}, unseen {pct(metrics['unseen']['accuracy'])}), log loss "
                  f"{metrics['log_loss']:.3f}; wrote {out}/{METRICS_NAME}", flush=True)
    return result
