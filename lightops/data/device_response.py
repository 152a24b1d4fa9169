"""Device impulse response (DIR) augmentation: the waveform as another recording device would have captured it.

TAU Urban Acoustic Scenes 2020 Mobile made its simulated devices s1-s11 by convolving device-A audio with measured
device impulse responses and applying dynamic range compression; CP-JKU's DCASE 2023 system convolves training
clips with measured microphone impulse responses (MicIRP) with probability 0.6. :class:`DeviceImpulseResponses`
does the same from a folder of impulse-response files, or, with ``source="simulated"``, from a random device
response drawn per clip (so it works with no download):

- a smooth equalisation: a random curve in dB through knots spaced evenly in log-frequency (100 Hz - 16 kHz),
  interpolated linearly in log-frequency;
- band limits: a high-pass (roll-off below 60-500 Hz, 6-24 dB per octave) and a low-pass (above 3.5-16 kHz);
- one to three resonances (peaks or notches of 3-12 dB, 1/6 to 1 octave wide);
- a gain of -6 to +6 dB, and with probability ``drc_p`` a dynamic range compressor (RMS envelope over 10 ms,
  threshold 10-30 dB below the clip's peak level, ratio 2-8, make-up gain to the original RMS).

The simulated responses use their own generator family (log-frequency knots, drawn from the generator given per
call), independent of :class:`~lightops.data.SyntheticScenes`' device responses, so that the augmentation cannot
simply reproduce the evaluation devices. The output has the input's length, with no delay (zero-phase filtering for
the simulated responses; measured responses are aligned at their peak).
"""
import math
import os
from typing import List, Optional, Union

import numpy as np
import torch

from ._audio import AudioFileError, read_audio

__all__ = ["DeviceImpulseResponses", "simulated_response_db", "compress"]

_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def _rng(generator: Optional[torch.Generator]) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` (the global torch generator when None)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


def simulated_response_db(freqs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random device frequency response in dB on the frequencies ``freqs`` (Hz), as described above."""
    octs = np.log2(np.maximum(freqs, 1.0) / 1000.0)  # octaves around 1 kHz
    knots = np.linspace(math.log2(0.1), math.log2(16.0), 8)  # 100 Hz .. 16 kHz
    db = np.interp(octs, knots, rng.normal(0.0, 3.0, knots.size))
    low_cut, low_slope = math.log2(rng.uniform(0.06, 0.5)), rng.uniform(6.0, 24.0)
    high_cut, high_slope = math.log2(rng.uniform(3.5, 16.0)), rng.uniform(6.0, 24.0)
    db -= low_slope * np.maximum(low_cut - octs, 0.0) + high_slope * np.maximum(octs - high_cut, 0.0)
    for _ in range(int(rng.integers(1, 4))):
        centre, width = rng.uniform(math.log2(0.2), math.log2(10.0)), rng.uniform(1 / 6, 1.0)
        db += rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 12.0) * np.exp(-0.5 * ((octs - centre) / width) ** 2)
    return db + rng.uniform(-6.0, 6.0)


def compress(x: np.ndarray, sample_rate: int, threshold_db: float, ratio: float) -> np.ndarray:
    """Feed-forward dynamic range compression of ``x`` ``(N,)``: RMS envelope over 10 ms, gain reduction above
    ``threshold_db`` (relative to the clip's peak envelope) by ``ratio``, then make-up gain to the input RMS."""
    win = max(1, int(0.01 * sample_rate))
    power = np.convolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same")
    level = 10.0 * np.log10(power + 1e-12)
    over = np.maximum(level - (level.max() + threshold_db), 0.0)
    y = x * 10.0 ** (-(1.0 - 1.0 / ratio) * over / 20.0)
    rms_in, rms_out = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y ** 2))
    return (y * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


class DeviceImpulseResponses:
    """Convolve waveforms with a random device response, with probability ``p`` per clip.

    Args:
        source: ``"simulated"`` (random responses, see the module docstring) or a folder of impulse-response
            audio files (``.wav``, ``.flac``, ...; any sample rate: resampled; searched recursively).
        p: probability that a clip is transformed (0.6 in CP-JKU's recipe).
        sample_rate: rate of the waveforms, Hz.
        drc_p: probability of dynamic range compression after a simulated response.

    Shape:
        ``(N,)`` or ``(B, N)`` -> the same. Picklable, for DataLoader workers.

    Raises:
        FileNotFoundError: ``source`` is neither ``"simulated"`` nor an existing folder.
        ValueError: the folder holds no audio file, or a file holds an empty or all-zero response (named).
        lightops.data.AudioFileError: an unreadable file (named).
        lightops.data.NonFiniteError: a file holding NaN or infinite samples (named; an ``AudioFileError`` and a
            ``ValueError``).
    """

    def __init__(self, source: Union[str, "os.PathLike[str]"] = "simulated", p: float = 0.6, sample_rate: int = 44100,
                 *, drc_p: float = 0.5) -> None:
        for name, value in (("p", p), ("drc_p", drc_p)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"DeviceImpulseResponses: {name} must be in [0, 1], got {value!r}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise ValueError(f"DeviceImpulseResponses: sample_rate must be a positive int (Hz), got {sample_rate!r}")
        self.p, self.drc_p, self.sample_rate = float(p), float(drc_p), sample_rate
        self.source = os.fspath(source)
        self.irs: Optional[List[np.ndarray]] = None if self.source == "simulated" else self._load(self.source)

    def _load(self, folder: str) -> List[np.ndarray]:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"impulse-response folder not found: {folder!r}; give a folder of IR audio files "
                                    f"or 'simulated'")
        paths = sorted(os.path.join(root, n) for root, _, names in os.walk(folder) for n in names
                       if n.lower().endswith(_EXTENSIONS))
        if not paths:
            raise ValueError(f"impulse-response folder {folder!r} holds no audio file ({', '.join(_EXTENSIONS)})")
        irs = []
        for path in paths:
            try:
                ir = read_audio(path, self.sample_rate, resample_audio=True)
            except AudioFileError as e:  # the same type (NonFiniteError stays one), said to be an impulse response
                raise type(e)(f"impulse response {path}: {e}") from e
            energy = float(np.sum(ir.astype(np.float64) ** 2))  # finite: read_audio refuses NaN and inf
            if not energy > 0:
                raise ValueError(f"impulse response {path} is silent (all samples zero); remove it from {folder!r}")
            irs.append((ir / math.sqrt(energy)).astype(np.float32))  # unit energy: the level is kept
        return irs

    def _apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = x.shape[0]
        if self.irs is not None:
            ir = self.irs[int(rng.integers(len(self.irs)))]
            size = n + ir.shape[0] - 1
            y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)
            peak = int(np.argmax(np.abs(ir)))  # align at the direct path: no delay
            return y[peak:peak + n].astype(np.float32)
        freqs = np.fft.rfftfreq(n, 1.0 / self.sample_rate)
        gain = 10.0 ** (simulated_response_db(freqs, rng) / 20.0)
        y = np.fft.irfft(np.fft.rfft(x) * gain, n).astype(np.float32)  # zero phase: no delay
        if rng.random() < self.drc_p:
            y = compress(y, self.sample_rate, rng.uniform(-30.0, -10.0), rng.uniform(2.0, 8.0))
        return y

    def __call__(self, waveform: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Transform ``waveform`` ``(N,)`` or ``(B, N)``, drawing from ``generator``."""
        if waveform.dim() not in (1, 2):
            raise ValueError(f"DeviceImpulseResponses: expected a waveform (N,) or a batch (B, N), got shape "
                             f"{list(waveform.shape)}")
        x = waveform.unsqueeze(0) if waveform.dim() == 1 else waveform
        rng = _rng(generator)
        rows = [torch.from_numpy(self._apply(row.detach().cpu().numpy().astype(np.float32), rng))
                if rng.random() < self.p else row.detach().cpu() for row in x]
        out = torch.stack(rows).to(device=waveform.device, dtype=waveform.dtype)
        return out[0] if waveform.dim() == 1 else out

    def __repr__(self) -> str:
        n = "simulated" if self.irs is None else f"{len(self.irs)} responses from {self.source!r}"
        return f"DeviceImpulseResponses({n}, p={self.p}, sample_rate={self.sample_rate})"
