"""Test signals of the front end, and its error against librosa: one definition for ``tests/audio/test_mel.py`` and
the parity block of docs/audio.md (``benchmarks.docs.audio``).

- :func:`signals`: exponential sine sweep, white noise and clicks, deterministic;
- :func:`speech_files`: the WAV recordings shipped inside the ``pytest-audioeval`` package;
- :func:`max_rel_error`: the largest ``|ours - librosa| / (|librosa| + 1e-6 * max)`` of the mel power spectrogram.
"""
from __future__ import annotations

import glob
import importlib.util
import os
from typing import Dict, List, Tuple

import numpy as np
import torch

from lightops.audio import LogMel

__all__ = ["ATOL_REL", "speech_files", "read_mono", "signals", "max_rel_error"]

ATOL_REL = 1e-6  # the floor of the relative error: 1e-6 of the reference's maximum


def speech_files() -> List[str]:
    """The WAV recordings shipped inside the pytest-audioeval package (empty when it is not installed)."""
    spec = importlib.util.find_spec("pytest_audioeval")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    return sorted(glob.glob(os.path.join(root, "samples", "audio", "*", "*.wav")))


def read_mono(path: str) -> Tuple[np.ndarray, int]:
    """A sound file as float32 mono ``(N,)`` (channels averaged) and its sample rate."""
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32")
    return (y.mean(axis=1) if y.ndim == 2 else y), sr  # (N,)


def signals(sr: int, seconds: float = 2.0) -> Dict[str, np.ndarray]:
    """Test signals (float64): exponential sine sweep 30 Hz to 0.45 sr, white noise, clicks every 0.11 s."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    f0, f1 = 30.0, 0.45 * sr
    sweep = 0.5 * np.sin(2 * np.pi * f0 * seconds / np.log(f1 / f0) * (np.exp(t / seconds * np.log(f1 / f0)) - 1))
    clicks = np.zeros_like(t)
    clicks[:: int(0.11 * sr)] = 1.0
    return {"sweep": sweep, "noise": 0.1 * rng.standard_normal(t.size), "clicks": clicks}


def max_rel_error(y: np.ndarray, sr: int, **kw) -> float:
    """Largest ``|ours - librosa| / (|librosa| + 1e-6 * max)`` of the mel power spectrogram of ``y`` (1-D)."""
    import librosa

    mel = LogMel(sample_rate=sr, **kw)
    ours = mel.mel_power(torch.from_numpy(y)[None])[0, 0].double().numpy()  # (n_mels, T)
    ref = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=mel.n_fft, hop_length=mel.hop_length, n_mels=mel.n_mels,
                                         fmin=mel.f_min, fmax=mel.f_max, power=2.0, center=mel.center,
                                         pad_mode=mel.pad_mode)  # (n_mels, T), in y's precision
    if ours.shape != ref.shape:
        raise RuntimeError(f"shape mismatch: LogMel gives {ours.shape}, librosa {ref.shape}")
    ref = ref.astype(np.float64)
    return float(np.max(np.abs(ours - ref) / (np.abs(ref) + ATOL_REL * ref.max())))
