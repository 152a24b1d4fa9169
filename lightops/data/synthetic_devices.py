"""The recording devices of :class:`~lightops.data.SyntheticScenes`: two families built from different mechanisms.

- ``"tau"``, as TAU Urban Acoustic Scenes 2020 Mobile made its devices: device ``"a"`` is the flat reference, the real
  devices ``b`` and ``c`` have a milder response of their own, and simulated devices (ids starting with ``s``) are
  device-A audio through a stronger response (band limits, resonances, tilt, gain) followed by dynamic range
  compression (:func:`device_response_db`, :func:`device_compression`);
- ``"eq"``: a smooth equalisation, a steep codec-like low-pass, soft clipping and a coloured noise floor with mains
  hum, no compression (:func:`eq_device`, :func:`coloured_noise`), so that a recipe can be judged on devices that the
  simulated device responses of :class:`~lightops.data.DeviceImpulseResponses` do not imitate.

Every device is derived from its id, so training and evaluation agree on it.
"""
import math
import zlib
from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np

__all__ = ["DEVICE_FAMILIES", "REAL_STRENGTH", "SIMULATED_STRENGTH", "EqDevice", "eq_device", "coloured_noise",
           "device_response_db", "device_compression", "is_simulated", "response_strength", "fft_freqs", "octaves",
           "bump_db"]

REAL_STRENGTH = 0.8  # real devices b, c: milder responses than the simulated ones (x device_strength)
SIMULATED_STRENGTH = 2.5  # simulated devices: device-A audio through a strong response, then compression

DEVICE_FAMILIES: Tuple[str, ...] = ("tau", "eq")
"""Device families of :class:`SyntheticScenes`: ``"tau"`` (responses + compression, as TAU 2020 Mobile made its
simulated devices) and ``"eq"`` (equalisation, codec band limit, soft clipping, coloured noise floors)."""


def fft_freqs(num_samples: int, sample_rate: int) -> np.ndarray:
    """Frequencies (Hz) of the real FFT of ``num_samples`` samples."""
    return np.fft.rfftfreq(num_samples, d=1.0 / sample_rate)


def bump_db(octs: np.ndarray, centre_hz: float, width_oct: float, gain_db: float) -> np.ndarray:
    """Gaussian bump in log frequency; ``octs`` are octaves relative to 1 kHz."""
    return gain_db * np.exp(-0.5 * ((octs - math.log2(centre_hz / 1000.0)) / (0.5 * width_oct)) ** 2)


def octaves(freqs: np.ndarray) -> np.ndarray:
    """Octaves relative to 1 kHz (frequencies below 20 Hz count as 20 Hz)."""
    return np.log2(np.maximum(freqs, 20.0) / 1000.0)


def device_response_db(device: str, freqs: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Magnitude response in dB of a simulated recording device at ``freqs`` (Hz).

    Device ``"a"`` is flat; any other id gets a low cut (80-500 Hz, 12 dB/octave below), a high cut
    (4-16 kHz, 18 dB/octave above), two resonances of +-8 dB, a tilt of +-2 dB/octave and a gain of +-6 dB,
    drawn from a generator seeded by the id, all scaled by ``strength``.
    """
    if device == "a":
        return np.zeros_like(freqs, dtype=np.float64)
    rng = np.random.default_rng(zlib.crc32(device.encode("utf-8")))
    octs = octaves(freqs)
    lo = math.log2(rng.uniform(80.0, 500.0) / 1000.0)
    hi = math.log2(rng.uniform(4000.0, 16000.0) / 1000.0)
    db = -12.0 * np.maximum(lo - octs, 0.0) - 18.0 * np.maximum(octs - hi, 0.0)
    for _ in range(2):
        db += bump_db(octs, rng.uniform(300.0, 6000.0), rng.uniform(0.5, 1.5), rng.uniform(-8.0, 8.0))
    db += rng.uniform(-2.0, 2.0) * octs + rng.uniform(-6.0, 6.0)
    return strength * db


@dataclass(frozen=True)
class EqDevice:
    """A device of the ``"eq"`` family (see the module docstring), derived from its id."""

    response_db: Callable[[np.ndarray], np.ndarray]  # frequencies (Hz) -> magnitude response in dB
    drive: float  # soft-clipping drive: tanh(drive * x / rms) * rms / drive (0: no clipping)
    noise_slope: float  # noise floor spectrum ~ f^-slope (1: pink, 2: brown)
    hum_hz: float  # mains hum fundamental (0: none)
    snr_db: float  # level of the clip over the noise floor


def eq_device(device: str, strength: float = 1.0) -> EqDevice:
    """The ``"eq"``-family device ``device`` at ``strength`` (0: flat, no clipping, the clip's own noise floor).

    Device ``"a"`` is the flat reference. Other ids get, from a generator seeded by ``"eq/" + id``: three cosines
    over log-frequency (periods of 2-6 octaves, +-2.5 dB each), a high-pass below 100-400 Hz (6 dB/octave), a low-pass
    above 3.4-8 kHz (48 dB/octave, a narrow-band codec), a clipping drive of 0.3-1.2 (x strength), a pink-to-brown noise
    floor at 18-30 dB below the clip (less with strength), and mains hum on half of the devices.
    """
    rng = np.random.default_rng(zlib.crc32(f"eq/{device}".encode()))
    if device == "a" or strength == 0:
        return EqDevice(lambda f: np.zeros_like(f, dtype=np.float64), 0.0, 0.0, 0.0, math.inf)
    waves = [(rng.uniform(2.0, 6.0), rng.uniform(0, 2 * np.pi), rng.uniform(-2.5, 2.5)) for _ in range(3)]
    low, high = math.log2(rng.uniform(100.0, 400.0) / 1000.0), math.log2(rng.uniform(3400.0, 8000.0) / 1000.0)

    def response_db(freqs: np.ndarray) -> np.ndarray:
        octs = octaves(freqs)
        db = sum(a * np.cos(2 * np.pi * octs / period + phase) for period, phase, a in waves)
        db = db - 6.0 * np.maximum(low - octs, 0.0) - 48.0 * np.maximum(octs - high, 0.0)
        return strength * db

    drive = strength * rng.uniform(0.3, 1.2)
    slope, hum = rng.uniform(1.0, 2.0), float(rng.choice([0.0, 50.0, 60.0], p=[0.5, 0.25, 0.25]))
    return EqDevice(response_db, drive, slope, hum, rng.uniform(18.0, 30.0) - 4.0 * max(strength - 1.0, 0.0))


def coloured_noise(rng: np.random.Generator, n: int, sample_rate: int, slope: float, hum_hz: float) -> np.ndarray:
    """Unit-RMS noise with a ``f^-slope`` power spectrum, plus mains hum (fundamental and 2 harmonics) if asked."""
    freqs = fft_freqs(n, sample_rate)
    spec = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    x = np.fft.irfft(spec * np.maximum(freqs, 20.0) ** (-slope / 2.0), n=n)
    x /= np.sqrt(np.mean(x ** 2)) + 1e-12
    if hum_hz > 0:
        t = np.arange(n) / sample_rate
        x += sum(np.sin(2 * np.pi * k * hum_hz * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def response_strength(family: str, device_strength: float, simulated: bool) -> float:
    """The strength a scene set at ``device_strength`` gives a ``family`` device's response: ``"tau"`` scales it by
    :data:`SIMULATED_STRENGTH` or :data:`REAL_STRENGTH`; ``"eq"`` by 2 (nominal strength 1 at ``device_strength``
    0.5) for simulated devices and 0.64 for real ones (b, c)."""
    if family == "tau":
        return device_strength * (SIMULATED_STRENGTH if simulated else REAL_STRENGTH)
    if family == "eq":
        return device_strength * (2.0 if simulated else 0.64)
    raise ValueError(f"device family must be one of {list(DEVICE_FAMILIES)}, got {family!r}")


def is_simulated(device: str) -> bool:
    """TAU's naming: simulated devices are ``s1``, ``s2``, ...; ``a``, ``b``, ``c`` are real ones."""
    return device.startswith("s")


def device_compression(device: str) -> Tuple[float, float]:
    """``(threshold dB below the clip's peak level, ratio)`` of a simulated device's compressor, from its id."""
    rng = np.random.default_rng(zlib.crc32(f"drc/{device}".encode()))
    return float(rng.uniform(-24.0, -12.0)), float(rng.uniform(3.0, 8.0))
