"""Evaluation metrics of acoustic scene classification, as DCASE Task 1 reports them.

- **accuracy**: fraction of clips whose arg-max class is the true one (micro average over clips);
- **macro accuracy**: class-wise accuracy averaged over classes (DCASE 2020 Task 1A's official ranking metric;
  equal to accuracy on a class-balanced split);
- **log loss**: multi-class cross-entropy ``-mean(log softmax(logits)[label])`` in nats, the figure DCASE 2020
  Task 1B and later report next to accuracy;
- the same per recording device, with devices seen in training and unseen devices aggregated separately;
- the confusion matrix, rows = true class, columns = predicted class.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = ["classification_metrics", "confusion_matrix", "device_sort_key", "model_complexity"]


def device_sort_key(device: str) -> tuple:
    """Sort key that orders device ids as TAU lists them: ``a, b, c, s1, s2, ..., s10``."""
    head = device.rstrip("0123456789")
    tail = device[len(head):]
    return (head, int(tail) if tail else -1, device)


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts ``(num_classes, num_classes)`` int64: entry ``[i, j]`` is clips of class ``i`` predicted ``j``."""
    idx = labels.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _summary(correct: torch.Tensor, nll: torch.Tensor) -> Dict[str, Any]:
    n = int(correct.numel())
    if n == 0:
        return {"accuracy": None, "log_loss": None, "num_clips": 0}
    return {"accuracy": float(correct.double().mean()), "log_loss": float(nll.double().mean()), "num_clips": n}


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, devices: Sequence[str],
                           classes: Sequence[str], seen_devices: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Accuracy, macro accuracy, log loss, per-class, per-device and seen/unseen figures, confusion matrix.

    Args:
        logits: ``(N, K)`` scores before the softmax.
        labels: ``(N,)`` true class indices in ``[0, K)``.
        devices: ``N`` device ids, one per clip.
        classes: the ``K`` class names.
        seen_devices: devices present in the training data; the others are reported as unseen. None marks
            every device as seen.

    Returns:
        A JSON-ready dict with keys ``num_clips``, ``accuracy``, ``macro_accuracy``, ``log_loss``,
        ``per_class`` (name -> accuracy, num_clips), ``per_device`` (id -> accuracy, log_loss, num_clips,
        seen), ``seen`` and ``unseen`` (devices, accuracy over their clips, mean of their per-device
        accuracies ``device_mean_accuracy``, log_loss, num_clips) and ``confusion_matrix`` (list of rows).

    Shape:
        ``logits (N, K)``, ``labels (N,)``.
    """
    if logits.dim() != 2 or logits.shape[1] != len(classes):
        raise ValueError(f"classification_metrics: expected logits (N, {len(classes)}), got {list(logits.shape)}")
    if labels.shape != (logits.shape[0],) or len(devices) != logits.shape[0]:
        raise ValueError(f"classification_metrics: expected {logits.shape[0]} labels and devices, got labels "
                         f"{list(labels.shape)} and {len(devices)} devices")
    if logits.shape[0] == 0:
        raise ValueError("classification_metrics: no clips to evaluate")
    labels = labels.long().cpu()
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(f"classification_metrics: labels must lie in [0, {len(classes)}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    logits = logits.detach().double().cpu()
    nll = F.cross_entropy(logits, labels, reduction="none")  # (N,) nats
    preds = logits.argmax(dim=1)
    correct = preds == labels  # (N,)
    k = len(classes)
    cm = confusion_matrix(preds, labels, k)
    per_class = {}
    class_acc: List[float] = []
    for i, name in enumerate(classes):
        total = int(cm[i].sum())
        acc = float(cm[i, i]) / total if total else None
        per_class[name] = {"accuracy": acc, "num_clips": total}
        if acc is not None:
            class_acc.append(acc)
    device_list = sorted(set(devices), key=device_sort_key)
    seen_set = set(device_list if seen_devices is None else seen_devices)
    dev_index = {d: i for i, d in enumerate(device_list)}
    dev_ids = torch.tensor([dev_index[d] for d in devices], dtype=torch.long)
    per_device: Dict[str, Dict[str, Any]] = {}
    for d in device_list:
        sel = dev_ids == dev_index[d]
        per_device[d] = dict(_summary(correct[sel], nll[sel]), seen=d in seen_set)
    groups = {}
    for group, want in (("seen", True), ("unseen", False)):
        members = [d for d in device_list if per_device[d]["seen"] is want]
        sel = torch.isin(dev_ids, torch.tensor([dev_index[d] for d in members], dtype=torch.long))
        summary = _summary(correct[sel], nll[sel])
        accs = [per_device[d]["accuracy"] for d in members]
        summary["device_mean_accuracy"] = sum(accs) / len(accs) if accs else None
        groups[group] = dict(devices=members, **summary)
    return {
        **_summary(correct, nll),
        "macro_accuracy": sum(class_acc) / len(class_acc),
        "per_class": per_class,
        "per_device": per_device,
        "seen": groups["seen"],
        "unseen": groups["unseen"],
        "confusion_matrix": cm.tolist(),
    }


def model_complexity(model: torch.nn.Module, input_size: Sequence[int]) -> Tuple[int, int]:
    """Trainable parameters and MACs at batch 1 on ``input_size`` ``(C, F, T)``: :func:`lightops.profiling.complexity`.

    The model is left in eval mode.
    """
    from ..profiling import complexity

    model.eval()
    return complexity(model, input_size)
