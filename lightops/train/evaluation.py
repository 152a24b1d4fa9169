"""Evaluation: a model on a data set (under DDP, sharded and gathered), and a checkpoint on its evaluate split."""
import os
import sys
import time
from contextlib import nullcontext
from typing import Any, ContextManager, Dict, Optional, Sequence

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

__all__ = ["evaluate", "evaluate_checkpoint", "autocast", "METRICS_NAME", "CONFUSION_NAME", "pct"]

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


def evaluate_checkpoint(checkpoint: str, data: str = SYNTHETIC, out: Optional[str] = None, *,
                        batch_size: int = 64, workers: int = 0, num_clips: Optional[int] = None,
                        device: Optional[str] = None, threads: Optional[int] = None,
                        quiet: bool = True) -> Dict[str, Any]:
    """Evaluate a training checkpoint on the ``evaluate`` split of ``data``; write ``metrics.json`` and a PNG.

    The front end, clip length and synthetic-data settings are those the checkpoint was trained with.

    Args:
        checkpoint: path of a ``last.pt``.
        data: ``"synthetic"`` or a TAU 2020 Mobile folder.
        out: output folder (None: ``eval/`` next to the checkpoint).
        batch_size: clips per batch.
        workers: DataLoader worker processes.
        num_clips: synthetic evaluation clips (None: as in training).
        device: ``"cpu"`` or ``"cuda"`` (None: CUDA when available).
        threads: torch intra-op threads during the call (None: unchanged); restored afterwards.
        quiet: no progress bar and summary line.

    Returns:
        The content of the written ``metrics.json``.
    """
    ckpt = read_checkpoint(checkpoint)
    with isolated_state(threads):
        env = init_distributed(device)
        try:
            return _evaluate_checkpoint(ckpt, checkpoint, data, out, env, batch_size=batch_size, workers=workers,
                                        num_clips=num_clips, quiet=quiet)
        finally:
            cleanup_distributed(env)


def _evaluate_checkpoint(ckpt: Dict[str, Any], checkpoint: str, data: str, out: Optional[str], env: DistEnv, *,
                         batch_size: int, workers: int, num_clips: Optional[int], quiet: bool) -> Dict[str, Any]:
    saved_args = ckpt.get("args", {})
    args = TrainConfig.from_dict(dict(saved_args, data=data, resume=False,
                                      num_eval_clips=num_clips or saved_args.get("num_eval_clips")))
    _, eval_set = build_datasets(args)
    preflight(eval_set, "evaluate")
    out = check_writable_dir(out or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "eval"))
    classes = list(ckpt.get("classes") or eval_set.classes)
    check_classes(classes, eval_set.classes, f"the data {data!r} against the checkpoint {checkpoint!r}")
    model = load_model(ckpt).model.to(env.device)
    frontend = FrontEnd.from_config(ckpt["frontend"]).to(env.device)
    t0 = time.perf_counter()
    metrics = evaluate(model, frontend, eval_set, classes=classes, seen_devices=ckpt.get("train_devices"),
                       env=env, batch_size=batch_size, workers=workers,
                       progress=env.is_main and not quiet and sys.stderr.isatty())
    result = dict(checkpoint=os.path.abspath(checkpoint), model=ckpt["model"], model_kwargs=ckpt["model_kwargs"],
                  epoch=ckpt.get("epoch"), classes=classes, **metrics,
                  data=dict(source=data, eval_clips=len(eval_set), train_devices=ckpt.get("train_devices")),
                  eval_seconds=time.perf_counter() - t0)
    if env.is_main:
        atomic_write_json(result, os.path.join(out, METRICS_NAME))
        plot_confusion_matrix(metrics["confusion_matrix"], classes, os.path.join(out, CONFUSION_NAME),
                              title=f"{ckpt['model']}: accuracy {metrics['accuracy']:.1%}")
        if not quiet:
            print(f"{ckpt['model']} epoch {ckpt.get('epoch')}: accuracy {metrics['accuracy']:.1%} (seen "
                  f"{pct(metrics['seen']['accuracy'])}, unseen {pct(metrics['unseen']['accuracy'])}), log loss "
                  f"{metrics['log_loss']:.3f}; wrote {out}/{METRICS_NAME}", flush=True)
    return result
