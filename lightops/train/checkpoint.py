"""Checkpoints: atomic writes, the random-number-generator states that make ``--resume`` exact, and loading.

A checkpoint is a dict saved with ``torch.save``. The keys a deployment needs are ``model`` (the model's name,
e.g. ``"dssdn_small"``), ``model_kwargs`` (e.g. ``{"num_classes": 10}``) and ``state_dict``;
:func:`lightops.train.build_model` (or ``timm.create_model`` for timm-registered names) rebuilds the network from
the first two. ``frontend`` holds the log-mel settings and the input normalisation the model was trained with.
The remaining keys (``optimizer``, ``scheduler``, ``epoch``, ``rng``, ``args``, ``history``, ...) let training
continue exactly where it stopped.

Every file is written atomically: to a temporary file in the same folder, flushed and ``fsync``-ed, then
renamed over the destination with ``os.replace``. A crash leaves either the previous file or the new one, never
a truncated one, and no temporary file is left behind on an error.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Dict, Iterator, Union

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_KEYS", "atomic_write", "atomic_save", "atomic_write_json", "get_rng_state", "set_rng_state",
    "load_checkpoint", "check_writable_dir",
]

PathLike = Union[str, "os.PathLike[str]"]

CHECKPOINT_KEYS = ("model", "model_kwargs", "state_dict", "optimizer", "scheduler", "epoch", "rng", "args",
                   "classes", "frontend", "history", "train_devices", "format_version")
"""Keys every training checkpoint holds (``load_checkpoint`` checks the first three)."""

FORMAT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success fsync it and ``os.replace`` it onto ``path``.

    Args:
        path: destination file; its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).

    Yields:
        The open temporary file. If the ``with`` body raises, the temporary file is removed and ``path`` is
        left untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode open() would
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable; not every file system allows opening a folder
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def atomic_save(obj: Any, path: PathLike) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def atomic_write_json(obj: Any, path: PathLike) -> None:
    """Write ``obj`` as indented JSON through :func:`atomic_write`."""
    text = json.dumps(obj, indent=2, allow_nan=True)
    with atomic_write(path, "w") as fh:
        fh.write(text + "\n")


def check_writable_dir(path: PathLike) -> str:
    """Create folder ``path`` if needed and check a file can be written in it.

    Returns:
        ``path`` as a string.

    Raises:
        OSError: the folder cannot be created or written (the message names it).
    """
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, f"output folder {path!r} is not writable: {e.strerror or e}") from e
    return path


def get_rng_state() -> Dict[str, Any]:
    """States of the global generators: torch (CPU, and CUDA when initialised), numpy and python ``random``."""
    state: Dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the states :func:`get_rng_state` returned (a missing CUDA entry is skipped)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load a training checkpoint and check it holds ``model``, ``model_kwargs`` and ``state_dict``.

    The file holds numpy and python RNG states besides tensors, so it is loaded with ``weights_only=False``:
    load only checkpoints you trust.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a lightops training checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # any unpickling failure means "not a checkpoint"
        raise ValueError(f"cannot read checkpoint {path}: {e}") from e
    missing = [k for k in ("model", "model_kwargs", "state_dict") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a lightops training checkpoint: missing keys {missing}")
    return ckpt
