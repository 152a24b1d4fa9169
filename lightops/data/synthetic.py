"""Synthetic acoustic scenes: a ten-class, multi-device data set generated on the fly, with no download.

Every clip is ``device(background + events) + device noise``:

- **background**: Gaussian noise shaped in frequency by the class's spectral envelope (a tilt in dB per octave
  plus a few resonant bumps), perturbed per clip (random tilt, a random bump, level), then slowly amplitude
  modulated at a class-specific rate;
- **events**: a Poisson number of sound events drawn from the class's vocabulary of event types (tones,
  rising/falling chirps, harmonic stacks with vibrato, bells, beep trains, bird-like FM trills, clicks, periodic
  footsteps, band-pass noise bursts, engine swells) with class-specific pitch register and rate. Several class
  pairs share their spectral content and differ mainly in time structure (rising vs falling chirps, periodic
  footsteps vs random clicks, beep trains vs sustained tones), which a time-averaged spectrum cannot see;
- **device**: a recording device of one of two families (:mod:`lightops.data.synthetic_devices`): ``"tau"`` (the
  default: responses, compression for the simulated devices, as TAU 2020 Mobile made s1-s11) or ``"eq"``
  (``device_family="eq"``: equalisation, a codec low-pass, soft clipping and coloured noise floors, mechanisms the
  simulated device responses of :class:`~lightops.data.DeviceImpulseResponses` do not imitate); white noise at
  ``snr_db`` below the clip's level (10 dB less for simulated ``tau`` devices). Some devices appear only in the
  evaluation split ("unseen devices"), as s4-s6 in TAU.

``class_overlap`` blends every class's envelope, vocabulary, pitch register and event rate towards the mean
over classes (0: as specified here, 1: all classes identical, chance accuracy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..validation import check_float, check_int
from ._audio import Clip
from .device_response import compress
from .synthetic_devices import (
    DEVICE_FAMILIES,
    EqDevice,
    bump_db,
    coloured_noise,
    device_compression,
    device_response_db,
    eq_device,
    fft_freqs,
    is_simulated,
    octaves,
    response_strength,
)
from .tau import TAU_CLASSES

__all__ = ["SyntheticScenes", "EVENT_TYPES"]

EVENT_TYPES: Tuple[str, ...] = ("tone", "chirp_up", "chirp_down", "harmonic", "bell", "beeps", "bird", "click",
                                "steps", "burst", "swell")
"""Event vocabulary shared by all classes; each class weights it differently."""


@dataclass(frozen=True)
class _SceneSpec:
    """Generative recipe of one scene class (before ``class_overlap`` blending)."""

    tilt: float  # background slope, dB per octave around 1 kHz
    bumps: Tuple[Tuple[float, float, float], ...]  # background resonances: (centre Hz, width octaves, gain dB)
    mod_rate: float  # background amplitude-modulation rate, Hz
    mod_depth: float  # its depth, 0..1
    event_rate: float  # events per second at event_density = 1
    pitch: float  # register of tonal events, octaves above the shared reference
    vocab: Dict[str, float]  # event type -> relative weight


# Scene recipes; the pairs (metro, tram), (street_pedestrian, public_square), (airport, shopping_mall) and
# (metro_station, airport) deliberately share spectra and differ in events' time structure.
_SPECS: Dict[str, _SceneSpec] = {
    "airport": _SceneSpec(-4.0, ((250, 1.5, 6.0),), 0.3, 0.2, 2.0, 0.0,
                          {"harmonic": 3, "tone": 2, "burst": 1.5, "steps": 1.5, "click": 1}),
    "bus": _SceneSpec(-6.5, ((90, 1.0, 9.0), (700, 1.0, 3.0)), 0.5, 0.3, 2.0, -1.0,
                      {"swell": 4, "burst": 2, "harmonic": 1.5, "click": 1.5, "beeps": 1}),
    "metro": _SceneSpec(-5.5, ((150, 1.0, 8.0), (1800, 1.0, 3.0)), 1.0, 0.3, 2.5, 0.0,
                        {"chirp_up": 4.5, "swell": 2, "burst": 2, "click": 1.5}),
    "metro_station": _SceneSpec(-4.5, ((250, 1.5, 6.0), (1800, 1.0, 3.0)), 0.3, 0.2, 2.0, 0.5,
                                {"beeps": 3.5, "harmonic": 2, "chirp_down": 1.5, "steps": 1.5, "burst": 1.5}),
    "park": _SceneSpec(-3.0, ((3500, 1.5, 4.0),), 0.2, 0.4, 2.0, 1.0,
                       {"bird": 5, "burst": 1.5, "steps": 1.5, "harmonic": 2}),
    "public_square": _SceneSpec(-4.0, ((500, 2.0, 5.0),), 0.3, 0.2, 3.0, 0.0,
                                {"harmonic": 3, "click": 3, "steps": 1, "bird": 1.5, "burst": 1.5}),
    "shopping_mall": _SceneSpec(-4.5, ((300, 1.5, 6.0), (1500, 1.0, 2.0)), 0.3, 0.2, 2.5, 0.5,
                                {"tone": 3.5, "harmonic": 3, "steps": 1.5, "click": 1, "beeps": 1}),
    "street_pedestrian": _SceneSpec(-4.0, ((500, 2.0, 5.0),), 0.3, 0.2, 3.0, 0.0,
                                    {"steps": 4, "harmonic": 2.5, "click": 1.5, "burst": 2}),
    "street_traffic": _SceneSpec(-5.5, ((110, 1.5, 8.0), (900, 1.5, 3.0)), 0.25, 0.5, 2.0, -0.5,
                                 {"burst": 4.5, "swell": 3, "click": 1, "beeps": 1.5}),
    "tram": _SceneSpec(-5.5, ((150, 1.0, 8.0), (1800, 1.0, 3.0)), 1.0, 0.3, 2.5, 0.0,
                       {"chirp_down": 4.5, "bell": 2, "swell": 2, "burst": 1.5}),
}


def _envelope(n: int, sr: int, attack: float = 0.005, release: float = 0.02) -> np.ndarray:
    """Linear attack and release ramps (seconds) on a flat top, length ``n``."""
    env = np.ones(n)
    a = min(max(int(attack * sr), 1), n)
    r = min(max(int(release * sr), 1), n)
    env[:a] *= np.linspace(0.0, 1.0, a)
    env[n - r:] *= np.linspace(1.0, 0.0, r)
    return env


def _lowpass_noise(rng: np.random.Generator, n: int, width: float) -> np.ndarray:
    """White noise smoothed by a moving average of ``width`` samples (cut-off about ``sr / width``)."""
    width = max(int(width), 1)
    cs = np.cumsum(rng.standard_normal(n + width))
    return (cs[width:] - cs[:-width]) / math.sqrt(width)


class _EventSynth:
    """Renders one event of a given type as a short array, to be added at an onset."""

    def __init__(self, sample_rate: int) -> None:
        self.sr = sample_rate
        self.f_max = 0.45 * sample_rate

    def _f(self, hz: float) -> float:
        return float(min(hz, self.f_max))

    def _t(self, seconds: float) -> np.ndarray:
        return np.arange(max(int(seconds * self.sr), 1)) / self.sr

    def __call__(self, kind: str, rng: np.random.Generator, pitch: float) -> np.ndarray:
        return getattr(self, "_" + kind)(rng, 2.0 ** pitch)

    def _tone(self, rng, p):  # sustained pure tone (music note, chime)
        f, t = self._f(p * rng.uniform(400, 1600)), self._t(rng.uniform(0.15, 0.5))
        return np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * _envelope(t.size, self.sr, 0.01, 0.1)

    def _sweep(self, rng, p, up: bool):  # exponential sweep with its second harmonic
        f0, dur = p * rng.uniform(300, 700), rng.uniform(0.25, 0.6)
        f1 = f0 * rng.uniform(1.8, 3.0)
        if not up:
            f0, f1 = f1, f0
        f0, f1 = self._f(f0), self._f(f1)
        t = self._t(dur)
        k = math.log(f1 / f0) / dur if f1 != f0 else 1e-9
        phase = 2 * np.pi * f0 * np.expm1(k * t) / k
        return (np.sin(phase) + 0.5 * np.sin(2 * phase)) * _envelope(t.size, self.sr, 0.02, 0.05)

    def _chirp_up(self, rng, p):  # motor run-up
        return self._sweep(rng, p, True)

    def _chirp_down(self, rng, p):  # braking
        return self._sweep(rng, p, False)

    def _harmonic(self, rng, p):  # voiced, speech-like harmonic stack with vibrato
        f0, t = p * rng.uniform(110, 260), self._t(rng.uniform(0.2, 0.6))
        inst = f0 * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
        phase = np.mod(2 * np.pi * np.cumsum(inst) / self.sr, 2 * np.pi).astype(np.float32)
        out = np.zeros(t.size, dtype=np.float32)
        for h in range(1, 9):
            if h * f0 < self.f_max:
                out += np.sin(h * phase) / h
        return out * _envelope(t.size, self.sr, 0.03, 0.05)

    def _bell(self, rng, p):  # inharmonic partials with exponential decay
        f, t = p * rng.uniform(500, 1200), self._t(rng.uniform(0.4, 0.8))
        out = np.zeros(t.size)
        for ratio, amp in ((1.0, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)):
            if ratio * f < self.f_max:
                out += amp * np.sin(2 * np.pi * ratio * f * t)
        return out * np.exp(-t / 0.15) * _envelope(t.size, self.sr, 0.002, 0.01)

    def _beeps(self, rng, p):  # train of short identical beeps at a fixed period
        f = self._f(p * rng.uniform(500, 1500))
        n, period, on = int(rng.integers(3, 6)), rng.uniform(0.1, 0.18), 0.05
        out = np.zeros(int(n * period * self.sr) + 1)
        beep = np.sin(2 * np.pi * f * self._t(on)) * _envelope(int(on * self.sr), self.sr, 0.003, 0.005)
        for i in range(n):
            s = int(i * period * self.sr)
            out[s:s + beep.size] += beep[: out.size - s]
        return out

    def _bird(self, rng, p):  # trill of fast falling FM chirps
        out = np.zeros(int(0.6 * self.sr))
        f_hi, spacing = p * rng.uniform(2500, 5000), rng.uniform(0.08, 0.14)
        for i in range(int(rng.integers(2, 5))):
            t = self._t(rng.uniform(0.03, 0.06))
            f = np.minimum(f_hi * (1 - 0.4 * t / t[-1] if t[-1] > 0 else 1), self.f_max)
            s = int(i * spacing * self.sr)
            seg = np.sin(2 * np.pi * np.cumsum(f) / self.sr) * _envelope(t.size, self.sr, 0.005, 0.01)
            out[s:s + seg.size] += seg[: max(out.size - s, 0)]
        return out

    def _click(self, rng, p):  # single broadband click
        t = self._t(rng.uniform(0.002, 0.006))
        return rng.standard_normal(t.size) * np.exp(-t / 0.0015)

    def _steps(self, rng, p):  # periodic low thumps (footsteps), 3-5 of them
        period = rng.uniform(0.4, 0.6)
        n = int(rng.integers(3, 6))
        out = np.zeros(int((n * period + 0.05) * self.sr))
        for i in range(n):
            t = self._t(0.04)
            thump = _lowpass_noise(rng, t.size, self.sr // 1500) * np.exp(-t / 0.012)
            s = int((i * period + rng.normal(0, 0.01)) * self.sr) if i else 0
            s = min(max(s, 0), out.size - 1)
            out[s:s + thump.size] += rng.uniform(0.6, 1.0) * thump[: out.size - s]
        return out

    def _burst(self, rng, p):  # band-pass noise with a pass-by (raised-cosine) envelope
        dur, fc = rng.uniform(0.3, 1.0), self._f(p * rng.uniform(150, 1500))
        t = self._t(dur)
        noise = _lowpass_noise(rng, t.size, self.sr / max(0.5 * fc, 50.0))
        return noise * np.cos(2 * np.pi * fc * t) * np.sin(np.pi * t / dur) ** 2

    def _swell(self, rng, p):  # low engine harmonics with a slow rise or fall
        f0, t = p * rng.uniform(40, 90), self._t(rng.uniform(0.5, 1.2))
        glide = 1 + rng.uniform(-0.3, 0.3) * t / t[-1] if t.size > 1 else np.ones(1)
        phase = np.mod(2 * np.pi * np.cumsum(f0 * glide) / self.sr, 2 * np.pi).astype(np.float32)
        out = sum(np.sin(h * phase) / h for h in range(1, 5) if h * f0 * 1.3 < self.f_max)
        return np.asarray(out) * np.sin(np.pi * t / t[-1]) ** 2 if t.size > 1 else np.zeros(1)


def _checked(check: Callable[..., Any], value: Any, name: str, **bounds: Any) -> Any:
    """``check(value, name, **bounds)`` with the error as a ``ValueError`` that names ``SyntheticScenes``."""
    try:
        return check(value, name, **bounds)
    except (TypeError, ValueError) as e:
        raise ValueError(f"SyntheticScenes: {e}") from None


class SyntheticScenes(Dataset):
    """Ten-class synthetic acoustic scenes with simulated devices, generated on the fly from a seed.

    Item ``i`` of a split is always the same waveform: it is rendered in ``__getitem__`` from a generator seeded
    by ``(seed, split, i)``. Labels cycle through the classes (``label = i % 10``) and devices through the
    split's device list (``devices[(i // 10) % len(devices)]``), so classes and devices are balanced. The
    ``train`` split uses ``devices``; ``evaluate`` uses ``devices + unseen_devices``. Class names are TAU's.

    Items are :class:`~lightops.data.Clip` named tuples ``(waveform, label, device)`` like
    :class:`~lightops.data.TAUUrbanAcousticScenes2020Mobile`.

    Args:
        split: ``"train"`` or ``"evaluate"``.
        num_clips: clips in the split; default 1000 for ``train``, 500 for ``evaluate``.
        clip_seconds: clip length in seconds.
        sample_rate: sampling rate in Hz (lower rates make generation faster).
        seed: data set seed; splits of one seed never share clips.
        devices: devices of both splits; ``"a"`` is the flat reference.
        unseen_devices: devices only in the ``evaluate`` split.
        event_density: multiplier of every class's event rate (default 1: 2-3 events per second).
        class_overlap: in [0, 1]; blend of each class's recipe towards the class mean (default 0.1).
        device_strength: multiplier of the device responses in dB (default 0.75; 0 makes all devices flat).
        device_family: ``"tau"`` (responses + compression, the default) or ``"eq"`` (equalisation, codec band
            limit, soft clipping, coloured noise floors): see the module docstring.
        snr_db: level of the clip over the device's white noise floor, in dB (default 30).
        level_jitter_db: half-range of the random per-clip gain, in dB (default 6).
        transform: optional callable applied to the waveform tensor ``(samples,)``.
    """

    classes: Tuple[str, ...] = TAU_CLASSES

    def __init__(self, split: str = "train", num_clips: Optional[int] = None, clip_seconds: float = 1.0,
                 sample_rate: int = 44100, seed: int = 0, *,
                 devices: Sequence[str] = ("a", "b", "c", "s1", "s2", "s3"),
                 unseen_devices: Sequence[str] = ("s4", "s5", "s6"), event_density: float = 1.0,
                 class_overlap: float = 0.1, device_strength: float = 0.75, snr_db: float = 30.0,
                 level_jitter_db: float = 6.0, device_family: str = "tau",
                 transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> None:
        if split not in ("train", "evaluate"):
            raise ValueError(f"SyntheticScenes: split must be 'train' or 'evaluate', got {split!r}")
        num_clips = (1000 if split == "train" else 500) if num_clips is None else num_clips
        _checked(check_int, num_clips, "num_clips", minimum=1)
        _checked(check_float, clip_seconds, "clip_seconds", minimum=0.0, open_min=True)
        _checked(check_int, sample_rate, "sample_rate", minimum=1)
        _checked(check_int, seed, "seed", minimum=0)
        devices, unseen_devices = tuple(devices), tuple(unseen_devices)
        if not devices or not all(isinstance(d, str) and d for d in devices + unseen_devices):
            raise ValueError(f"SyntheticScenes: devices must be a non-empty sequence of non-empty strings, got "
                             f"devices={devices!r}, unseen_devices={unseen_devices!r}")
        if len(set(devices + unseen_devices)) != len(devices + unseen_devices):
            raise ValueError(f"SyntheticScenes: devices and unseen_devices must be distinct, got "
                             f"devices={devices!r}, unseen_devices={unseen_devices!r}")
        if not event_density >= 0:
            raise ValueError(f"SyntheticScenes: event_density must be >= 0, got {event_density!r}")
        if not 0.0 <= class_overlap <= 1.0:
            raise ValueError(f"SyntheticScenes: class_overlap must be in [0, 1], got {class_overlap!r}")
        if not device_strength >= 0:
            raise ValueError(f"SyntheticScenes: device_strength must be >= 0, got {device_strength!r}")
        if not level_jitter_db >= 0:
            raise ValueError(f"SyntheticScenes: level_jitter_db must be >= 0, got {level_jitter_db!r}")
        if device_family not in DEVICE_FAMILIES:
            raise ValueError(f"SyntheticScenes: device_family must be one of {list(DEVICE_FAMILIES)}, "
                             f"got {device_family!r}")
        self.device_family = device_family
        self.split = split
        self.num_clips = num_clips
        self.clip_seconds = float(clip_seconds)
        self.sample_rate = sample_rate
        self.num_samples = max(int(round(self.clip_seconds * sample_rate)), 1)
        self.seed = seed
        self.seen_devices = devices
        self.unseen_devices = unseen_devices
        self.devices: Tuple[str, ...] = devices + (unseen_devices if split == "evaluate" else ())
        self.event_density = float(event_density)
        self.class_overlap = float(class_overlap)
        self.device_strength = float(device_strength)
        self.snr_db = float(snr_db)
        self.level_jitter_db = float(level_jitter_db)
        self.transform = transform
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets: List[int] = [i % len(self.classes) for i in range(num_clips)]
        self._synth = _EventSynth(sample_rate)
        self._prepare()

    def _prepare(self) -> None:
        """Blend the class recipes by ``class_overlap`` and tabulate spectra on the clip's FFT grid."""
        o = self.class_overlap
        specs = [_SPECS[name] for name in self.classes]
        freqs = fft_freqs(self.num_samples, self.sample_rate)
        self._octs = octaves(freqs)  # (n_freqs,)
        shapes = np.stack([s.tilt * self._octs + sum(bump_db(self._octs, *b) for b in s.bumps) for s in specs])
        self._bg_db = (1 - o) * shapes + o * shapes.mean(axis=0)  # (10, n_freqs)
        self._bg_db += -120.0 * np.maximum(math.log2(30.0 / 1000.0) - self._octs, 0.0)  # no energy below ~30 Hz
        vocab = np.array([[s.vocab.get(k, 0.0) for k in EVENT_TYPES] for s in specs])
        vocab /= vocab.sum(axis=1, keepdims=True)
        vocab = (1 - o) * vocab + o * vocab.mean(axis=0)
        self._vocab = vocab / vocab.sum(axis=1, keepdims=True)  # (10, n_types)

        def blend(values: List[float]) -> np.ndarray:
            v = np.asarray(values, dtype=np.float64)
            return (1 - o) * v + o * v.mean()

        self._mod_rate = blend([s.mod_rate for s in specs])
        self._mod_depth = blend([s.mod_depth for s in specs])
        self._rate = blend([s.event_rate for s in specs]) * self.event_density
        self._pitch = blend([s.pitch for s in specs])
        self._eq_devices: Dict[str, EqDevice] = {}
        self._device_gain = {d: self._device_gain_of(d) for d in self.seen_devices + self.unseen_devices}

    def _device_gain_of(self, device: str) -> np.ndarray:
        freqs = fft_freqs(self.num_samples, self.sample_rate)
        if self.device_family == "eq":
            db = self._eq_device(device).response_db(freqs)
        else:
            db = device_response_db(device, freqs, response_strength("tau", self.device_strength,
                                                                      is_simulated(device)))
        return (10.0 ** (db / 20.0)).astype(np.float32)  # (n_freqs,)

    def _eq_device(self, device: str) -> EqDevice:
        """The ``"eq"`` device ``device`` at this data set's strength, built once per device (not per clip)."""
        if device not in self._eq_devices:
            strength = response_strength("eq", self.device_strength, is_simulated(device))
            self._eq_devices[device] = eq_device(device, strength)
        return self._eq_devices[device]

    def _record(self, x: np.ndarray, device: str, rng: np.random.Generator) -> Tuple[np.ndarray, float]:
        """``x`` as ``device`` records it: response, then compression (``"tau"``) or clipping (``"eq"``), noise.

        Returns:
            The recording and the RMS of its signal part (before the noise floor), which sets the clip's level.
        """
        n, sr = self.num_samples, self.sample_rate
        x = np.fft.irfft(np.fft.rfft(x) * self._device_gain[device], n=n).astype(np.float32)
        if self.device_family == "eq":
            dev = self._eq_device(device)
            if dev.drive > 0:
                rms = np.sqrt(np.mean(x ** 2)) + 1e-12
                x = (np.tanh(dev.drive * x / rms) * (rms / dev.drive)).astype(np.float32)
            rms = np.sqrt(np.mean(x ** 2)) + 1e-12
            floor = (coloured_noise(rng, n, sr, dev.noise_slope, dev.hum_hz) * np.float32(rms * 10.0 ** (
                -dev.snr_db / 20.0)) if math.isfinite(dev.snr_db) else 0.0)
            white = rng.standard_normal(n, dtype=np.float32) * np.float32(rms * 10.0 ** (-self.snr_db / 20.0))
            return x + floor + white, rms
        snr_db = self.snr_db
        if is_simulated(device) and self.device_strength > 0:
            threshold_db, ratio = device_compression(device)
            x = compress(x, sr, threshold_db, ratio)
            snr_db -= 10.0
        rms = np.sqrt(np.mean(x ** 2)) + 1e-12
        return x + rng.standard_normal(n, dtype=np.float32) * np.float32(rms * 10.0 ** (-snr_db / 20.0)), rms

    @property
    def num_classes(self) -> int:
        """Number of scene classes (10)."""
        return len(self.classes)

    def label_of(self, index: int) -> int:
        """Class index of item ``index``."""
        return index % len(self.classes)

    def device_of(self, index: int) -> str:
        """Device id of item ``index``."""
        return self.devices[(index // len(self.classes)) % len(self.devices)]

    def name_of(self, index: int) -> str:
        """Stable name of item ``index``: ``synthetic/<seed>/<split>/<index>``."""
        return f"synthetic/{self.seed}/{self.split}/{index % self.num_clips}"

    def render(self, label: int, device: str, rng: np.random.Generator) -> np.ndarray:
        """Render one clip of class ``label`` recorded on ``device``, drawing from ``rng``
        (:meth:`render_scene`, then :meth:`record` with the same ``rng``).

        Returns:
            float32 ``(num_samples,)``, RMS 0.025 (-32 dBFS) before the per-clip gain, peak at most 0.99.
        """
        return self.record(self.render_scene(label, rng), device, rng)

    def render_scene(self, label: int, rng: np.random.Generator) -> np.ndarray:
        """The sound of one scene of class ``label`` before any device: background and events, float32
        ``(num_samples,)``. Recording one scene on several devices (:meth:`record`) gives parallel recordings."""
        if not 0 <= label < len(self.classes):
            raise ValueError(f"SyntheticScenes: label must be in [0, {len(self.classes)}), got {label!r}")
        n, sr = self.num_samples, self.sample_rate
        # Background: class envelope + per-clip tilt and bump, random phases; (n,)
        shape_db = self._bg_db[label] + rng.normal(0.0, 1.5) * self._octs
        shape_db += bump_db(self._octs, 1000.0 * 2.0 ** rng.uniform(-3, 3), rng.uniform(0.5, 2.0),
                             rng.normal(0.0, 4.0))
        spec = rng.standard_normal(2 * shape_db.size, dtype=np.float32).view(np.complex64)  # (n_freqs,)
        bg = np.fft.irfft(spec * np.exp(shape_db * (math.log(10.0) / 20.0)).astype(np.float32), n=n)
        bg /= np.sqrt(np.mean(bg ** 2)) + 1e-12
        rate, depth = self._mod_rate[label] * 2.0 ** rng.uniform(-0.5, 0.5), self._mod_depth[label]
        phase0 = rng.uniform(0, 2 * np.pi)
        bg *= 1.0 + depth * np.sin(np.arange(n, dtype=np.float32) * np.float32(2 * np.pi * rate / sr) + phase0)
        # Events: Poisson count, type from the class vocabulary, level relative to the background.
        x = bg
        pitch = self._pitch[label] + rng.uniform(-0.5, 0.5)
        for _ in range(rng.poisson(self._rate[label] * self.clip_seconds)):
            kind = EVENT_TYPES[rng.choice(len(EVENT_TYPES), p=self._vocab[label])]
            ev = self._synth(kind, rng, pitch)
            ev = ev * (10.0 ** (rng.uniform(0.0, 12.0) / 20.0) / (np.sqrt(np.mean(ev ** 2)) + 1e-12))
            start = int(rng.integers(-ev.size // 2, n))
            lo, hi = max(start, 0), min(start + ev.size, n)
            if hi > lo:
                x[lo:hi] += ev[lo - start:hi - start]
        return x

    def record(self, scene: np.ndarray, device: str, rng: np.random.Generator) -> np.ndarray:
        """``scene`` (from :meth:`render_scene`) as ``device`` records it: its response, compression or clipping and
        noise floor, then a random level within ``level_jitter_db``; the scene itself is not changed.

        Returns:
            float32 ``(num_samples,)``, RMS 0.025 (-32 dBFS) before the per-clip gain, peak at most 0.99.
        """
        if device not in self._device_gain:
            self._device_gain[device] = self._device_gain_of(device)
        x, rms = self._record(np.array(scene, dtype=np.float32), device, rng)
        gain_db = rng.uniform(-self.level_jitter_db, self.level_jitter_db)
        x *= np.float32(0.025 * 10.0 ** (gain_db / 20.0) / rms)
        peak = float(np.abs(x).max())
        if peak > 0.99:  # a recorder's limiter: scale the rare loud clip down rather than clip it
            x *= np.float32(0.99 / peak)
        return x

    def generate(self, index: int) -> np.ndarray:
        """The waveform of item ``index`` as float32 ``(num_samples,)`` (deterministic)."""
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"SyntheticScenes: index {index} out of range for {self.num_clips} clips")
        index %= self.num_clips
        split_code = 0 if self.split == "train" else 1
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, split_code, index]))
        return self.render(self.label_of(index), self.device_of(index), rng)

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> Clip:
        """Item ``index``: ``Clip(waveform (num_samples,) float32, label, device)``."""
        waveform = torch.from_numpy(self.generate(index))
        index %= self.num_clips
        if self.transform is not None:
            waveform = self.transform(waveform)
        return Clip(waveform, self.label_of(index), self.device_of(index))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, num_clips={self.num_clips}, "
                f"clip_seconds={self.clip_seconds}, sample_rate={self.sample_rate}, seed={self.seed}, "
                f"devices={list(self.devices)}, device_family={self.device_family!r})")
