"""Files that are either written whole or not at all, and the output-location checks done before any work.

Every file lightops writes (checkpoints, ``metrics.json``, ONNX models, CSV predictions) goes through
:func:`atomic_path`: the content goes to a temporary file in the destination's folder, which is flushed, ``fsync``-ed
and renamed over the destination with ``os.replace``. A crash leaves either the previous file or the new one, never a
truncated one, and no temporary file is left behind on an error.
"""
import errno
import json
import os
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Iterator, Union

import torch

__all__ = ["PathLike", "atomic_path", "atomic_write", "atomic_save", "atomic_write_json", "check_writable_dir",
           "check_output_path", "same_file"]

PathLike = Union[str, "os.PathLike[str]"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable; not every file system allows opening a folder."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


@contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """A temporary file path next to ``path``; moved onto ``path`` when the ``with`` body succeeds, else removed.

    For writers that take a file name (``onnx.save``, ``torch.onnx.export``, onnxruntime's quantizer).

    Args:
        path: destination file; its folder must exist.

    Yields:
        The temporary path (an empty file with the mode ``open()`` would give).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output folder {folder!r} does not exist (writing {path!r})")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the mode open() would
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync_dir(folder)


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` (:func:`atomic_path`); it replaces ``path`` when the body succeeds.

    Args:
        path: destination file; its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text, UTF-8).

    Yields:
        The open temporary file. If the ``with`` body raises, ``path`` is left untouched.
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh


def atomic_save(obj: Any, path: PathLike) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def atomic_write_json(obj: Any, path: PathLike) -> None:
    """Write ``obj`` as indented JSON through :func:`atomic_write`."""
    text = json.dumps(obj, indent=2, allow_nan=True)
    with atomic_write(path, "w") as fh:
        fh.write(text + "\n")


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same existing file (links and relative paths resolved), or, where
    one does not exist yet, the same absolute path. The check before an output replaces an input or another output."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_writable_dir(path: PathLike) -> str:
    """Create folder ``path`` if needed and check a file can be written in it.

    Returns:
        ``path`` as a string.

    Raises:
        NotADirectoryError: ``path`` is a file (the message names it).
        OSError: the folder cannot be created or written (the message names it).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, f"output folder {path!r} is a file, not a folder; give a folder "
                                                f"(created if missing)")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=path)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, f"output folder {path!r} is not writable: {e.strerror or e}") from e
    return path


def check_output_path(out: PathLike) -> str:
    """The absolute output file path, after checking that its folder exists and is writable.

    Raises:
        IsADirectoryError: ``out`` is a folder.
        FileNotFoundError: its folder does not exist.
        PermissionError: its folder is not writable.
    """
    path = os.path.abspath(os.fspath(out))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"output path {path!r} is a directory; give a file name")
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"output directory {parent!r} does not exist or is not a directory "
                                f"(output path {path!r})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output directory {parent!r} is not writable (output path {path!r})")
    return path
