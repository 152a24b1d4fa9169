"""LogMel against librosa, and LogMel's own timings: blocks ``librosa-parity`` and ``logmel-timing`` of docs/audio.md.

The parity figures compare ``LogMel.mel_power`` with ``librosa.feature.melspectrogram`` on the test signals of
``tests/_signals.py`` and on the speech recordings the test suite uses. Each figure is the largest
``|ours - librosa| / (|librosa| + 1e-6 * max)`` over all bins and frames (and over all recordings). They are cheap and
deterministic on one machine, so ``tests/test_docs_code.py`` checks the block is current (within a factor of 2).
The timings are not re-measured by any test: the block records the command, date and machine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from benchmarks.common import machine
from benchmarks.docs.blocks import wrap
from lightops.audio import LogMel, mel_filterbank
from tests._signals import max_rel_error, read_mono, signals, speech_files

__all__ = ["FILTERBANKS", "parity_rows", "sci", "filterbank_errors", "parity_block", "timing_block"]

# Settings of the filterbank comparison: the default front end, then those of tests/audio/test_mel.py.
FILTERBANKS = [(44100, 4096, 256, 0.0, None), (16000, 1024, 64, 50.0, 7000.0), (22050, 2048, 128, 0.0, 8000.0),
               (8000, 512, 40, 300.0, None)]


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
        clips = [read_mono(p) for p in files]
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
    lines = [wrap(f"Measured with librosa {librosa.__version__} by `python -m benchmarks.docs` "
                   "(`benchmarks/docs/audio.py`); float32 input on both sides unless said otherwise."), "",
             "| signal | settings | max relative error |", "|---|---|---:|"]
    lines += [f"| {a} | {b} | {e} |" for a, b, e in rows]
    if not facts["files"]:
        lines += ["", "(pytest-audioeval is not installed: the rows of speech recordings are missing.)"]
    lines += ["", wrap(f"The filterbank itself (float64) differs from `librosa.filters.mel` by at most {sci(fb[0])} "
                        f"at the default settings and {sci(max(fb[1:]))} at the {len(fb) - 1} other settings of "
                        "`tests/audio/test_mel.py` (largest absolute difference).")]
    return "\n".join(lines)


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
    return "\n".join([wrap(f"`{command}` ({time.strftime('%Y-%m-%d')}; {machine()}; one thread, batch 1, "
                            "`configure_malloc()`):"), "",
                      "| clip | waveform | log-mel | median ms | p10-p90 ms |", "|---|---|---|---:|---:|", *rows])
