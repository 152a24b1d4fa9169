"""Shared pieces of the data sets: the item type, WAV reading with checks (finite samples included), resampling,
padding."""
from __future__ import annotations

import math
import os
import struct
from typing import NamedTuple, Optional, Union

import numpy as np
import torch

__all__ = ["Clip", "AudioFileError", "NonFiniteError", "check_finite", "read_audio", "fit_length", "resample"]

PathLike = Union[str, "os.PathLike[str]"]


class Clip(NamedTuple):
    """One item of a scene data set; unpacks as ``waveform, label, device = clip``.

    ``torch.utils.data.default_collate`` batches it field by field: ``waveform`` to ``(B, samples)``,
    ``label`` to a ``(B,)`` int64 tensor and ``device`` to a sequence of B strings.
    """

    waveform: torch.Tensor  # (samples,) float32 mono, or whatever the data set's transform returns
    label: int  # class index, -1 when the split has no labels
    device: str  # recording device id, e.g. "a", "s4"


class AudioFileError(RuntimeError):
    """An audio file that cannot be used: unreadable, corrupt, truncated, at the wrong sample rate, or holding NaN or
    infinite samples (:class:`NonFiniteError`)."""


class NonFiniteError(AudioFileError, ValueError):
    """Audio holding NaN or infinite samples (a file, a waveform, a chunk of a stream), or a model giving non-finite
    outputs for it: nothing to train on or classify.

    Both an :class:`AudioFileError` and a ``ValueError``, so that either way of catching bad input catches it: code
    that skips or reports bad audio files (``except AudioFileError``: the data sets' callers, ``predict_files``, an
    impulse-response folder) treats a NaN file like any other unusable file, and code that catches bad values
    (``except ValueError``: a stream's caller, the command line) keeps catching it as it always has.
    """


def check_finite(x: np.ndarray, what: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` when ``x`` holds NaN or infinite values.

    Args:
        x: samples ``(samples,)``, or ``(samples, channels)``, where a sample counts once however many of its
            channels are bad.
        what: what ``x`` is, for the message (``"audio file PATH"``, ``"the waveform"``).

    Raises:
        NonFiniteError: naming ``what``, the number of non-finite samples and the index of the first.
    """
    bad = ~np.isfinite(x)
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)  # (samples,)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(f"{what} holds {int(bad.sum())} non-finite sample(s) (NaN or inf; the first at index "
                             f"{first}): finite audio expected")


def _riff_declared_bytes(path: PathLike) -> Optional[int]:
    """Bytes the WAV header declares for its ``data`` chunk, minus the bytes present; None if not a plain RIFF WAV.

    libsndfile quietly shortens a truncated file to the bytes present, so this is how truncation is caught.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):  # streamed writers leave the size unset
                    return None
                return chunk_size - (size - pos - 8)
            pos += 8 + chunk_size + (chunk_size & 1)
    return None


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Polyphase resampling of ``x`` ``(samples,)`` with ``scipy.signal.resample_poly`` (Kaiser window).

    Raises:
        ImportError: scipy is not installed.
    """
    if orig_sr == target_sr:
        return x
    try:
        from scipy.signal import resample_poly
    except ImportError as e:  # scipy is optional; only resampling needs it
        raise ImportError("resampling needs scipy: pip install scipy") from e
    g = math.gcd(int(orig_sr), int(target_sr))
    return resample_poly(x, int(target_sr) // g, int(orig_sr) // g).astype(np.float32)


def read_audio(path: PathLike, sample_rate: int, *, resample_audio: bool = False) -> np.ndarray:
    """Read an audio file as float32 mono ``(samples,)`` at ``sample_rate``.

    Multi-channel files are mixed to mono by averaging the channels.

    Args:
        path: audio file (any format libsndfile reads; WAV headers are also checked for truncation).
        sample_rate: rate the caller expects, in Hz.
        resample_audio: resample a file at another rate instead of raising.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        AudioFileError: the file is unreadable, corrupt, truncated, empty, or at another rate without
            ``resample_audio``.
        NonFiniteError: the file holds NaN or infinite samples (an :class:`AudioFileError` and a ``ValueError``),
            naming the file, the number of such samples and the index of the first; or samples so large that mixing
            to mono or resampling overflows float32.
    """
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        missing = _riff_declared_bytes(path)
        data, sr = sf.read(path, dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError, struct.error, OSError) as e:
        raise AudioFileError(f"cannot read audio file {path}: {e}") from e
    if missing is not None and missing > 0:
        raise AudioFileError(f"audio file {path} is truncated: its header declares {missing} more bytes of "
                             f"audio than the file holds")
    if data.shape[0] == 0:
        raise AudioFileError(f"audio file {path} holds no samples")
    check_finite(data, f"audio file {path}")  # one such clip turns a loss, the weights and every metric into NaN
    if sr != sample_rate and not resample_audio:
        raise AudioFileError(f"audio file {path} has sample rate {sr} Hz, expected {sample_rate} Hz "
                             f"(resample=True, or --resample on the command line, resamples it)")
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is checked for below, and named
        x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]  # (samples,)
        x = resample(x, sr, sample_rate)
    if not np.isfinite(x).all():  # finite samples near the float32 limit can overflow in the mix or the filter
        raise NonFiniteError(f"audio file {path} holds samples too large to mix to mono or resample (up to "
                             f"{float(np.abs(data).max()):g}; float32 overflows): audio of a sensible level expected")
    return np.ascontiguousarray(x, dtype=np.float32)


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop ``x`` ``(samples,)`` to its first ``num_samples`` samples, or pad it with zeros at the end."""
    if x.shape[0] >= num_samples:
        return x[:num_samples]
    return np.pad(x, (0, num_samples - x.shape[0]))
