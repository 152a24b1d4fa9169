"""Teacher logits for knowledge distillation: computed once per training clip, stored, and looked up per batch.

A teacher is an ensemble of checkpoints written by ``lightops train`` (any model); its logits are the mean of the
members' logits on the un-augmented training clips, each member through its own front end. They are stored in a
file keyed by clip name (``{"names": [...], "logits": (N, K), "classes": [...], "frontend": {...}}``), written
by ``lightops logits`` on its own (so a teacher trained elsewhere can be used) or next to the run
(``OUT/teacher_logits.pt``).
A teacher with other classes, or trained on another front end (sample rate, FFT size, hop, mel bins), is refused
with an error naming both.
"""
import os
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..checkpoint import check_classes, load_model, load_torch_file, read_checkpoint
from ..fileio import PathLike, atomic_save

__all__ = ["FRONTEND_KEYS", "check_distinct", "check_teachers", "compute_teacher_logits", "save_teacher_logits",
           "load_teacher_logits", "teacher_table"]

FRONTEND_KEYS = ("sample_rate", "n_fft", "hop_length", "n_mels")
"""Front-end settings a teacher must share with the student's data."""


def _frontend_of(ckpt: Dict[str, Any], path: str) -> Dict[str, Any]:
    fe = ckpt.get("frontend")
    if not isinstance(fe, dict) or any(k not in fe for k in FRONTEND_KEYS):
        raise ValueError(f"teacher {path!r} holds no front-end settings {list(FRONTEND_KEYS)}: use a checkpoint "
                         f"written by lightops train")
    return {k: fe[k] for k in FRONTEND_KEYS}


def check_distinct(paths: Sequence[PathLike], what: str) -> None:
    """Refuse a list of checkpoints that names one file twice (an ensemble's mean would weigh it double).

    Raises:
        ValueError: naming the file given twice.
    """
    seen: Dict[str, str] = {}
    for path in map(os.fspath, paths):
        real = os.path.realpath(path)
        if real in seen:
            raise ValueError(f"{what} {path!r} is given twice ({seen[real]!r}): an ensemble averages distinct "
                             f"checkpoints")
        seen[real] = path


def check_teachers(paths: Sequence[PathLike], classes: Sequence[str], frontend: Dict[str, Any]) -> None:
    """Read every teacher checkpoint and check its classes and front end against the student's.

    Raises:
        FileNotFoundError: a missing checkpoint.
        ValueError: an unreadable checkpoint, other classes, or another front end (both named).
    """
    check_distinct(paths, "teacher")
    for path in map(os.fspath, paths):
        ckpt = read_checkpoint(path)
        check_classes(classes, ckpt.get("classes") or [], f"teacher {path!r} against the student's data")
        theirs, ours = _frontend_of(ckpt, path), {k: frontend[k] for k in FRONTEND_KEYS}
        if theirs != ours:
            raise ValueError(f"teacher {path!r} was trained on another front end: teacher {theirs}, student {ours}")


@torch.no_grad()
def compute_teacher_logits(paths: Sequence[PathLike], dataset: Dataset, *, batch_size: int = 64,
                           device: Optional[torch.device] = None, progress: bool = False) -> Dict[str, Any]:
    """Mean logits of the teacher checkpoints on every item of ``dataset`` (un-augmented), keyed by clip name.

    Args:
        paths: teacher checkpoints (an ensemble).
        dataset: items ``(waveform, label, device)`` with ``name_of(i)`` and ``classes``.
        batch_size: clips per forward pass.
        device: where the teachers run (default CPU).
        progress: show a progress bar.

    Returns:
        ``{"names", "logits" (N, K), "classes", "frontend", "teachers"}``.
    """
    if not callable(getattr(dataset, "name_of", None)):
        raise ValueError(f"compute_teacher_logits: {type(dataset).__name__} has no name_of(i) to key the logits by")
    device = device or torch.device("cpu")
    total: Optional[torch.Tensor] = None
    frontend: Dict[str, Any] = {}
    for path in map(os.fspath, paths):
        loaded = load_model(path)
        model, fe = loaded.model.to(device).eval(), loaded.front_end().to(device)
        frontend = {k: fe.config()[k] for k in FRONTEND_KEYS}
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
        out = [model(fe(wave.to(device))).float().cpu()
               for wave, *_ in tqdm(loader, desc=f"teacher {os.path.basename(path)}", leave=False,
                                    disable=not progress)]
        logits = torch.cat(out)
        total = logits if total is None else total + logits
    assert total is not None, "no teacher checkpoints"
    return dict(names=[dataset.name_of(i) for i in range(len(dataset))], logits=total / len(paths),
                classes=list(dataset.classes), frontend=frontend, teachers=[os.fspath(p) for p in paths])


def save_teacher_logits(table: Dict[str, Any], path: PathLike) -> None:
    """Write a teacher-logits table atomically."""
    atomic_save(table, path)


def load_teacher_logits(path: PathLike, classes: Sequence[str], frontend: Dict[str, Any]) -> Dict[str, Any]:
    """Read a teacher-logits file and check its classes and front end against the student's.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a teacher-logits file, other classes, or another front end.
    """
    table = load_torch_file(path, "teacher logits file")
    if not isinstance(table, dict) or not {"names", "logits", "classes", "frontend"} <= set(table):
        raise ValueError(f"{path!r} is not a teacher-logits file (write one with `lightops logits`)")
    check_classes(classes, table["classes"], f"teacher logits {path!r} against the student's data")
    ours = {k: frontend[k] for k in FRONTEND_KEYS}
    if table["frontend"] != ours:
        raise ValueError(f"teacher logits {path!r} come from another front end: teacher {table['frontend']}, "
                         f"student {ours}")
    return table


def teacher_table(table: Dict[str, Any], names: List[str], temperature: float) -> torch.Tensor:
    """The teacher's softened probabilities ``softmax(logits / T)`` ``(N, K)`` in the order of ``names``.

    Raises:
        ValueError: a clip the table has no logits for (the first few are named).
    """
    row = {name: i for i, name in enumerate(table["names"])}
    missing = [n for n in names if n not in row]
    if missing:
        raise ValueError(f"the teacher logits lack {len(missing)} training clip(s), e.g. {missing[:3]}: compute them "
                         f"on the same data (lightops logits ... --data with the same options)")
    logits = table["logits"][torch.tensor([row[n] for n in names], dtype=torch.long)]
    return torch.softmax(logits.float() / temperature, dim=1)
