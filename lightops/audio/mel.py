"""Log-mel front end: waveform ``(B, samples)`` -> log-mel spectrogram ``(B, 1, n_mels, T)``.

The spectrogram is what ``librosa.feature.melspectrogram`` computes with its defaults (periodic Hann window,
centred frames padded with zeros, power 2, Slaney mel scale, Slaney area normalisation), followed by
``10 * log10(max(mel, amin))``, which is ``librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)``.
Only torch is needed at run time; the filterbank is computed here (numpy, float64, stored as float32 like
librosa's default ``dtype``).

Defaults follow the DCASE/TAU 2020 Mobile set-up: 44.1 kHz, ``n_fft = 4096``, ``hop_length = 1024``, 256 mel
bins, so a 10-s clip gives ``(1, 256, 431)`` and a 1-s clip ``(1, 256, 44)``.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from ..validation import check_float, check_int

__all__ = ["LogMel", "mel_filterbank", "hz_to_mel", "mel_to_hz"]

# Slaney's Auditory Toolbox mel scale (librosa's default, htk=False): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mel
_LOGSTEP = math.log(6.4) / 27.0  # mel step of the log part


def hz_to_mel(freqs: np.ndarray) -> np.ndarray:
    """Hz to mel on the Slaney scale (``librosa.hz_to_mel(..., htk=False)``)."""
    freqs = np.asarray(freqs, dtype=np.float64)
    mels = freqs / _F_SP
    log_part = freqs >= _MIN_LOG_HZ
    mels = np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(freqs, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP, mels)
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Mel to Hz on the Slaney scale (``librosa.mel_to_hz(..., htk=False)``)."""
    mels = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    log_part = mels >= _MIN_LOG_MEL
    return np.where(log_part, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL)), freqs)


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: Optional[float] = None) -> np.ndarray:
    """Triangular mel filterbank with Slaney area normalisation, as ``librosa.filters.mel`` (its defaults).

    Args:
        sample_rate: sampling rate in Hz.
        n_fft: FFT size; the filterbank covers its ``n_fft // 2 + 1`` one-sided bins.
        n_mels: number of mel bands.
        f_min: lowest band edge in Hz.
        f_max: highest band edge in Hz; ``sample_rate / 2`` when None.

    Returns:
        ``(n_mels, n_fft // 2 + 1)`` float64 array, low frequencies first. Band ``m`` is a triangle from mel
        point ``m`` to ``m + 2`` scaled by ``2 / (f[m + 2] - f[m])`` so that every band has the same area.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (n_fft // 2 + 1,)
    mel_pts = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    hz_pts = mel_to_hz(mel_pts)  # (n_mels + 2,) band edges and centres
    fdiff = np.diff(hz_pts)  # (n_mels + 1,)
    ramps = hz_pts[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]  # rising edge of each band
    upper = ramps[2:] / fdiff[1:, None]  # falling edge
    weights = np.maximum(0.0, np.minimum(lower, upper))  # (n_mels, n_freqs)
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]  # Slaney norm: equal area per band
    return weights


class LogMel(nn.Module):
    """Log-mel spectrogram front end (torch only, deterministic).

    ::

        x (B, N) --stft, hann--> |X|^power (B, n_fft/2+1, T) --mel fb--> (B, n_mels, T) --dB--> (B, 1, n_mels, T)

    The mel power spectrogram equals ``librosa.feature.melspectrogram(y, sr=sample_rate, n_fft=n_fft,
    hop_length=hop_length, n_mels=n_mels, fmin=f_min, fmax=f_max, power=power, center=center,
    pad_mode=pad_mode)``. The log is in decibels, ``10 * log10(max(mel, amin))``, i.e. ``librosa.power_to_db``
    with ``ref=1.0``: a fixed reference keeps the absolute level (device gain is information the network may
    use or be augmented against), where ``ref=np.max`` would normalise every clip. ``top_db`` clips each clip
    (not the whole batch) at ``max - top_db`` dB.

    The STFT runs in the input's precision (float32, or float64 for float64 input); half-precision input is
    computed in float32. The filterbank product always runs in at least float32, with autocast disabled.

    Args:
        sample_rate: sampling rate of the input in Hz.
        n_fft: FFT size (and window length unless ``win_length`` is set).
        hop_length: hop between frames in samples.
        n_mels: number of mel bands ``F``.
        f_min: lowest mel band edge in Hz.
        f_max: highest mel band edge in Hz; ``sample_rate / 2`` when None.
        win_length: Hann window length, zero-padded to ``n_fft`` at the centre; ``n_fft`` when None.
        power: exponent of the magnitude (2 for power, 1 for magnitude).
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample ``t * hop``.
        pad_mode: ``"constant"`` (zeros, librosa's default) or ``"reflect"``; used when ``center``.
        log: apply the dB log; when False the module returns the mel power spectrogram.
        amin: floor on the mel power before the log.
        top_db: when set, clip each clip's log-mel at its maximum minus ``top_db``.

    Shape:
        ``(B, N)`` or ``(B, 1, N)`` -> ``(B, 1, n_mels, T)``, ``T = 1 + N // hop_length`` when ``center``,
        ``T = 1 + (N - n_fft) // hop_length`` otherwise (see :meth:`output_frames`).
    """

    def __init__(self, sample_rate: int = 44100, n_fft: int = 4096, hop_length: int = 1024, n_mels: int = 256,
                 f_min: float = 0.0, f_max: Optional[float] = None, *, win_length: Optional[int] = None,
                 power: float = 2.0, center: bool = True, pad_mode: str = "constant", log: bool = True,
                 amin: float = 1e-10, top_db: Optional[float] = None) -> None:
        super().__init__()
        for name, value in (("sample_rate", sample_rate), ("n_fft", n_fft), ("hop_length", hop_length),
                            ("n_mels", n_mels)):
            check_int(value, f"LogMel: {name}", minimum=1)
        win_length = n_fft if win_length is None else win_length
        check_int(win_length, "LogMel: win_length", minimum=1, maximum=n_fft)  # at most n_fft
        f_max = sample_rate / 2.0 if f_max is None else float(f_max)
        if not 0.0 <= f_min < f_max <= sample_rate / 2.0:
            raise ValueError(f"LogMel: need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
                             f"got f_min={f_min}, f_max={f_max}")
        if pad_mode not in ("constant", "reflect"):
            raise ValueError(f"LogMel: pad_mode must be 'constant' or 'reflect', got {pad_mode!r}")
        check_float(power, "LogMel: power", minimum=0.0, open_min=True)
        check_float(amin, "LogMel: amin", minimum=0.0, open_min=True)
        check_float(top_db, "LogMel: top_db", minimum=0.0, optional=True)
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.f_min = float(f_min)
        self.f_max = f_max
        self.power = float(power)
        self.center = bool(center)
        self.pad_mode = pad_mode
        self.log = bool(log)
        self.amin = float(amin)
        self.top_db = None if top_db is None else float(top_db)
        # Periodic Hann (scipy.signal.get_window("hann", n, fftbins=True), as librosa), centred in n_fft.
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        left = (n_fft - win_length) // 2
        window = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
        self.register_buffer("window", window.float(), persistent=False)  # (n_fft,)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, self.f_min, self.f_max)
        empty = int((fb.max(axis=1) <= 0.0).sum())
        if empty:  # as librosa.filters.mel warns: such bands read no FFT bin and hold the floor in every frame
            warnings.warn(f"LogMel: {empty} of {n_mels} mel bands hold no FFT bin (n_fft={n_fft} at {sample_rate} Hz "
                          f"spaces its bins {sample_rate / n_fft:.1f} Hz apart, wider than the lowest bands between "
                          f"{self.f_min:g} and {f_max:g} Hz): they are constant; use a larger n_fft or fewer n_mels",
                          UserWarning, stacklevel=2)
        self.register_buffer("mel_fb", torch.from_numpy(fb).float(), persistent=False)  # (n_mels, n_fft // 2 + 1)

    @property
    def min_samples(self) -> int:
        """Shortest waveform that gives at least one frame."""
        if not self.center:
            return self.n_fft
        return self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1

    def output_frames(self, num_samples: int) -> int:
        """Number of frames ``T`` for a waveform of ``num_samples`` samples."""
        if num_samples < self.min_samples:
            raise ValueError(f"LogMel: a waveform needs at least {self.min_samples} samples "
                             f"(n_fft={self.n_fft}, center={self.center}, pad_mode={self.pad_mode!r}), "
                             f"got {num_samples}")
        if self.center:
            return 1 + num_samples // self.hop_length
        return 1 + (num_samples - self.n_fft) // self.hop_length

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        """Validate the waveform and return it as ``(B, N)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"LogMel: expected a torch.Tensor waveform (B, samples), got {type(x).__name__}")
        if x.dim() == 3 and x.shape[1] != 1:
            raise ValueError(f"LogMel: expected a mono waveform (B, samples) or (B, 1, samples), got shape "
                             f"{list(x.shape)}; mix channels down first")
        if x.dim() not in (2, 3):
            hint = " (add a batch dimension: x.unsqueeze(0))" if x.dim() == 1 else ""
            raise ValueError(f"LogMel: expected a waveform (B, samples) or (B, 1, samples), got shape "
                             f"{list(x.shape)}{hint}")
        if not x.is_floating_point():
            raise ValueError(f"LogMel: expected a floating-point waveform (B, samples), got dtype {x.dtype}")
        x = x.reshape(x.shape[0], x.shape[-1])  # (B, N)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"LogMel: expected a non-empty waveform (B, samples), got shape {list(x.shape)}")
        self.output_frames(x.shape[1])  # raises when too short
        return x

    def mel_power(self, x: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram before the log (``librosa.feature.melspectrogram``).

        Args:
            x: waveform ``(B, N)`` or ``(B, 1, N)``.

        Returns:
            ``(B, 1, n_mels, T)`` mel power, float32 (float64 for float64 input).
        """
        x = self._check(x)  # (B, N)
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(dtype)
            spec = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.n_fft,
                              window=self.window.to(dtype), center=self.center, pad_mode=self.pad_mode,
                              normalized=False, onesided=True, return_complex=True)  # (B, n_fft // 2 + 1, T)
            spec = spec.abs()
            spec = spec.square() if self.power == 2.0 else spec.pow(self.power)  # (B, n_freqs, T)
            mel = torch.matmul(self.mel_fb.to(dtype), spec)  # (n_mels, n_freqs) @ (B, n_freqs, T) -> (B, n_mels, T)
        return mel.unsqueeze(1)  # (B, 1, n_mels, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Waveform ``(B, N)`` or ``(B, 1, N)`` -> log-mel ``(B, 1, n_mels, T)`` in dB (mel power if not ``log``)."""
        mel = self.mel_power(x)  # (B, 1, n_mels, T)
        if not self.log:
            return mel
        with torch.autocast(device_type=mel.device.type, enabled=False):
            db = 10.0 * torch.log10(mel.clamp_min(self.amin))  # (B, 1, n_mels, T)
            if self.top_db is not None:
                peak = db.amax(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1), per clip
                db = torch.maximum(db, peak - self.top_db)
        return db

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, hop_length={self.hop_length}, "
                f"n_mels={self.n_mels}, f_min={self.f_min}, f_max={self.f_max}, power={self.power}, "
                f"center={self.center}, pad_mode={self.pad_mode!r}, log={self.log}, top_db={self.top_db}")
