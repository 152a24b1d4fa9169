"""Write impulse responses of one synthetic device family as WAV files, for ``lightops train --dir FOLDER``.

The recipe's slot for device impulse responses (DIR) takes a folder of measured responses (MicIRP in the DCASE 2025
baseline). None can be downloaded here, so this command writes the linear part of a synthetic family's devices
instead: the magnitude response of ``"tau"`` devices (:func:`lightops.data.synthetic_devices.device_response_db`) or
of ``"eq"`` devices (:func:`~lightops.data.synthetic_devices.eq_device`), at the strength the scene sets give their
simulated devices, as zero-phase FIR filters (peak at the centre, which the DIR augmentation aligns to). The device
ids are ``ir1``, ``ir2``, ...: other devices of the family than any scene set's ``s1``-``s6``.

Used across families, a folder judges what responses of other devices bring to a model without imitating the devices
it is tested on: responses of the ``eq`` family for scenes of the ``tau`` family, and the other way round. ::

    python -m benchmarks.make_device_irs /tmp/irs-eq --family eq --count 24
    lightops train --data FOLDER --recipe dcase --dir /tmp/irs-eq ...
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

import numpy as np

from lightops.data.synthetic_devices import DEVICE_FAMILIES, device_response_db, eq_device, response_strength

__all__ = ["response_db", "impulse_response", "write_irs", "main"]


def response_db(family: str, device: str, freqs: np.ndarray, device_strength: float = 0.75) -> np.ndarray:
    """Magnitude response in dB of ``family``'s device ``device`` at ``freqs`` (Hz), at the strength
    :class:`~lightops.data.SyntheticScenes` gives a simulated device at ``device_strength``."""
    if family not in DEVICE_FAMILIES:
        raise ValueError(f"make_device_irs: family must be one of {list(DEVICE_FAMILIES)}, got {family!r}")
    strength = response_strength(family, device_strength, simulated=True)
    if family == "tau":
        return device_response_db(device, freqs, strength)
    return eq_device(device, strength).response_db(freqs)


def impulse_response(gain_db: np.ndarray, length: int) -> np.ndarray:
    """The zero-phase FIR filter of ``length`` (odd) taps whose magnitude follows ``gain_db`` on the ``rfft`` grid of
    ``length`` samples, Hann-windowed, peak at the centre, unit energy."""
    if length % 2 == 0 or gain_db.shape[0] != length // 2 + 1:
        raise ValueError(f"impulse_response: need an odd length and {length // 2 + 1} gains, got {length} and "
                         f"{gain_db.shape[0]}")
    h = np.fft.irfft(10.0 ** (gain_db / 20.0), n=length)
    h = np.roll(h, length // 2) * np.hanning(length)
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def write_irs(root: str, family: str, count: int, sample_rate: int = 44100, length: int = 4095,
              device_strength: float = 0.75) -> List[str]:
    """Write ``count`` responses (``ir1.wav`` ...) of ``family`` into ``root``; their paths."""
    import soundfile as sf

    if count < 1:
        raise ValueError(f"make_device_irs: count must be >= 1, got {count}")
    os.makedirs(root, exist_ok=True)
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    paths = []
    for i in range(1, count + 1):
        path = os.path.join(root, f"ir{i}.wav")
        ir = impulse_response(response_db(family, f"ir{i}", freqs, device_strength), length)
        sf.write(path, ir / np.max(np.abs(ir)) * 0.9, sample_rate, subtype="FLOAT")
        paths.append(path)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the folder and say what it holds."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.make_device_irs", description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="folder to write")
    p.add_argument("--family", choices=DEVICE_FAMILIES, required=True, help="device family of the responses")
    p.add_argument("--count", type=int, default=24, help="number of devices")
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--length", type=int, default=4095, help="taps (odd)")
    p.add_argument("--device-strength", type=float, default=0.75, help="as SyntheticScenes")
    args = p.parse_args(argv)
    paths = write_irs(args.root, args.family, args.count, args.sample_rate, args.length, args.device_strength)
    print(f"{args.root}: {len(paths)} impulse responses of the {args.family!r} family")
    return 0


if __name__ == "__main__":
    sys.exit(main())
