"""LogMel against librosa: the parity table of docs/audio.md, and LogMel's own timings.

The parity figures compare ``LogMel.mel_power`` with ``librosa.feature.melspectrogram`` on synthetic signals and
on the speech recordings the test suite uses (the WAV files shipped inside the ``pytest-audioeval`` package, found
as in ``tests/audio/test_mel.py``). Each figure is the largest ``|ours - librosa| / (|librosa| + 1e-6 * max)`` over
all bins and frames (and over all recordings). They are cheap and deterministic on one machine, so
``python benchmarks/docs_figures.py --check`` (and a test) checks that the block in docs/audio.md is current.

::

    python benchmarks/audio_parity.py              # print the parity table
    python benchmarks/audio_parity.py --write      # ... and write it between the librosa-parity markers
    python benchmarks/audio_parity.py --timing     # time LogMel on one thread, write the logmel-timing block

The timings are not re-measured by any test: the block records the command, date and machine.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from lightops.audio import LogMel, mel_filterbank

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "audio.md"
PARITY_BLOCK = "librosa-parity"
TIMING_BLOCK = "logmel-timing"
ATOL_REL = 1e-6  # the floor of the relative error: 1e-6 of the reference's maximum, as in tests/audio/test_mel.py
# Settings of the filterbank comparison: the default front end, then those of tests/audio/test_mel.py.
FILTERBANKS = [(44100, 4096, 256, 0.0, None), (16000, 1024, 64, 50.0, 7000.0), (22050, 2048, 128, 0.0, 8000.0),
               (8000, 512, 40, 300.0, None)]

__all__ = ["speech_files", "signals", "max_rel_error", "parity_rows", "parity_block", "timing_block"]


def speech_files() -> List[str]:
    """The WAV recordings shipped inside the pytest-audioeval package (empty when it is not installed)."""
    spec = importlib.util.find_spec("pytest_audioeval")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    return sorted(glob.glob(os.path.join(root, "samples", "audio", "*", "*.wav")))


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


def _read(path: str) -> Tuple[np.ndarray, int]:
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32")
    return (y.mean(axis=1) if y.ndim == 2 else y), sr  # (N,)


def parity_rows() -> Tuple[List[List[str]], Dict[str, object]]:
    """Rows ``[signal, settings, max relative error]`` of the parity table, and facts about the recordings."""
    rows = []
    sr = 44100
    sig = {k: v.astype(np.float32) for k, v in signals(sr).items()}
    rows.append([f"exponential sine sweep 30 Hz - {0.45 * sr / 1000:.1f} kHz, 2 s, 44.1 kHz", "defaults",
                 max_rel_error(sig["sweep"], sr)])
    rows.append(["white noise, 2 s, 44.1 kHz", "defaults", max_rel_error(sig["noise"], sr)])
    rows.append(["clicks every 0.11 s, 2 s, 44.1 kHz", "defaults", max_rel_error(sig["clicks"], sr)])
    files = speech_files()
    facts: Dict[str, object] = {"files": len(files)}
    if files:
        clips = [_read(p) for p in files]
        langs = sorted({Path(p).parent.name for p in files})
        rates = sorted({s for _, s in clips})
        secs = [len(y) / s for y, s in clips]
        facts.update(languages=len(langs), rates=rates, seconds=(min(secs), max(secs)))
        name = (f"{len(files)} speech recordings (`pytest-audioeval`; {len(langs)} languages, "
                f"{', '.join(f'{r / 1000:g} kHz' for r in rates)}, {min(secs):.1f}-{max(secs):.1f} s)")
        rows.append([name, "n_fft 4096, hop 1024, 256 mels", max(max_rel_error(y, s) for y, s in clips)])
        rows.append(["the same recordings", "n_fft 512, hop 160, 64 mels",
                     max(max_rel_error(y, s, n_fft=512, hop_length=160, n_mels=64) for y, s in clips)])
        rows.append(["the same recordings, float64 input on both sides", "n_fft 4096, hop 1024, 256 mels",
                     max(max_rel_error(y.astype(np.float64), s) for y, s in clips)])
    return [[a, b, sci(e)] for a, b, e in rows], facts


def sci(value: float) -> str:
    """``value`` with two significant digits in short scientific notation (``1.2e-5``; ``0`` for zero)."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def filterbank_errors() -> List[float]:
    """Largest absolute difference between ``mel_filterbank`` and ``librosa.filters.mel`` for each of FILTERBANKS."""
    import librosa

    out = []
    for sr, n_fft, n_mels, f_min, f_max in FILTERBANKS:
        ours = mel_filterbank(sr, n_fft, n_mels, f_min, f_max)
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, dtype=np.float64)
        out.append(float(np.max(np.abs(ours - ref))))
    return out


def parity_block() -> str:
    """The Markdown between the ``librosa-parity`` markers of docs/audio.md."""
    import librosa

    rows, facts = parity_rows()
    fb = filterbank_errors()
    lines = [_wrap(f"Measured with librosa {librosa.__version__} by `python benchmarks/docs_figures.py` "
                   "(`benchmarks/audio_parity.py`); float32 input on both sides unless said otherwise."), "",
             "| signal | settings | max relative error |", "|---|---|---:|"]
    lines += [f"| {a} | {b} | {e} |" for a, b, e in rows]
    if not facts["files"]:
        lines += ["", "(pytest-audioeval is not installed: the rows of speech recordings are missing.)"]
    lines += ["", _wrap(f"The filterbank itself (float64) differs from `librosa.filters.mel` by at most {sci(fb[0])} "
                        f"at the default settings and {sci(max(fb[1:]))} at the {len(fb) - 1} other settings of "
                        "`tests/audio/test_mel.py` (largest absolute difference).")]
    return "\n".join(lines)


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 116, break_on_hyphens=False, break_long_words=False))


def machine() -> str:
    """One line naming the machine: CPU model, cores, libc, torch and Python versions."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    libc = " ".join(platform.libc_ver()).strip() or "unknown libc"
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, {libc}, torch "
            f"{torch.__version__}, Python {platform.python_version()}")


def timing_block(command: str) -> str:
    """Time LogMel (default settings) on one thread at batch 1 for a 1-s and a 10-s clip; the block's Markdown."""
    import time

    from lightops.profiling import configure_malloc, latency

    configure_malloc()  # fixed malloc thresholds: timings comparable across processes (docs/profiling.md)
    mel = LogMel()
    rows = []
    for seconds in (1, 10):
        r = latency(mel, (seconds * mel.sample_rate,), threads=1, warmup=5, repeats=30, min_time=1.0)
        n = seconds * mel.sample_rate
        rows.append(f"| {seconds} s | (1, {n}) | (1, 1, {mel.n_mels}, {mel.output_frames(n)}) | {r.median_ms:.1f} "
                    f"| {r.p10_ms:.1f}-{r.p90_ms:.1f} |")
    return "\n".join([_wrap(f"`{command}` ({time.strftime('%Y-%m-%d')}; {machine()}; one thread, batch 1, "
                            "`configure_malloc()`):"), "",
                      "| clip | waveform | log-mel | median ms | p10-p90 ms |", "|---|---|---|---:|---:|", *rows])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the parity table; ``--write`` puts it in docs/audio.md, ``--timing`` times LogMel and writes that."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="write the parity block into docs/audio.md")
    p.add_argument("--timing", action="store_true", help="time LogMel and write the timing block")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from docs_blocks import write_block

    if args.timing:
        text = timing_block("python benchmarks/audio_parity.py --timing")
        print(text)
        write_block(str(PAGE), TIMING_BLOCK, text)
        return 0
    text = parity_block()
    print(text)
    if args.write:
        write_block(str(PAGE), PARITY_BLOCK, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
