"""Write a scene set in the TAU Urban Acoustic Scenes 2020 Mobile layout from the synthetic scenes, for comparisons on
a folder (``python -m benchmarks.compare --data FOLDER``) of another difficulty or with other devices.

::

    python -m benchmarks.make_scene_set /tmp/easy --segments 40 --class-overlap 0
    python -m benchmarks.compare --data /tmp/easy --clip-seconds 1 --models dssdn_small dcase2025_baseline ...

Every segment of a class gets one clip per device, each drawn afresh (:func:`lightops.data.make_fake_tau`), or with
``--parallel`` one scene recorded by every device (parallel recordings, as ``benchmarks.device_shift`` needs); even
segments go to the training fold on the seen devices, odd ones to the evaluation fold on the seen and the unseen
devices.
"""
from __future__ import annotations

import argparse
import time
from typing import List, Optional

from lightops.data import make_fake_tau
from lightops.data.synthetic_devices import DEVICE_FAMILIES

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.make_scene_set", description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="folder to write")
    p.add_argument("--segments", type=int, default=40, help="segments per class, half of them for training")
    p.add_argument("--devices", nargs="+", default=["a", "b", "c", "s1", "s2", "s3"], help="seen devices")
    p.add_argument("--unseen-devices", nargs="*", default=["s4", "s5", "s6"],
                   help="evaluation-only devices (none: every device is also in the training fold)")
    p.add_argument("--device-family", choices=DEVICE_FAMILIES, default="tau")
    p.add_argument("--class-overlap", type=float, default=0.1, help="SyntheticScenes class_overlap (0: easiest)")
    p.add_argument("--event-density", type=float, default=1.0)
    p.add_argument("--device-strength", type=float, default=0.75)
    p.add_argument("--clip-seconds", type=float, default=1.0)
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parallel", action="store_true", help="one scene per segment, recorded by every device")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Write the folder and print what it holds."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    root = make_fake_tau(args.root, n_per_class=args.segments, devices=args.devices,
                         eval_only_devices=args.unseen_devices, clip_seconds=args.clip_seconds,
                         sample_rate=args.sample_rate, seed=args.seed, parallel=args.parallel,
                         device_family=args.device_family,
                         class_overlap=args.class_overlap, event_density=args.event_density,
                         device_strength=args.device_strength)
    train = (args.segments + 1) // 2 * 10 * len(args.devices)
    evaluate = args.segments // 2 * 10 * (len(args.devices) + len(args.unseen_devices))
    print(f"{root}: {train} training and {evaluate} evaluation clips of {args.clip_seconds:g} s "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
