"""PNG figures of a training run: the loss and accuracy curves, and the confusion matrix.

matplotlib (Agg backend, no display needed) is imported when a figure is drawn, so the rest of
:mod:`lightops.train` works without it. Files are written atomically.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Sequence, Union

from ..fileio import atomic_write

__all__ = ["plot_training_curves", "plot_confusion_matrix"]

PathLike = Union[str, "os.PathLike[str]"]


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(history: Sequence[Dict[str, Any]], path: PathLike, title: str = "") -> None:
    """Loss (left) and accuracy (right) per epoch, training and evaluation, to a PNG.

    Args:
        history: one dict per epoch with ``epoch``, ``train_loss``, ``train_accuracy`` and, for evaluated
            epochs, ``eval_loss`` and ``eval_accuracy`` (None or missing otherwise).
        path: PNG file to write.
        title: figure title.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [h["epoch"] for h in history]
    for ax, key, label in ((ax_loss, "loss", "loss (cross-entropy)"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        evaluated = [(h["epoch"], h[f"eval_{key}"]) for h in history if h.get(f"eval_{key}") is not None]
        if evaluated:
            ax.plot(*zip(*evaluated), "s-", label="evaluate")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_acc.set_ylim(0.0, 1.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: PathLike,
                          title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with counts, to a PNG.

    Args:
        matrix: ``K x K`` counts, ``matrix[i][j]`` = clips of class ``i`` predicted as ``j``.
        classes: the ``K`` class names.
        path: PNG file to write.
        title: figure title.
    """
    plt = _pyplot()
    import numpy as np

    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * k, 0.8 + 0.6 * k))
    im = ax.imshow(frac, vmin=0.0, vmax=1.0, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if frac[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
