"""Write a small fake TAU Urban Acoustic Scenes 2020 Mobile folder, for tests and examples."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ._audio import PathLike
from .synthetic import SyntheticScenes
from .tau import TAU_CLASSES

__all__ = ["make_fake_tau"]

_CITIES = ("barcelona", "helsinki", "lisbon", "london", "lyon", "milan", "paris", "prague", "stockholm", "vienna")


def make_fake_tau(root: PathLike, n_per_class: int = 2, devices: Sequence[str] = ("a", "b", "s1"), *,
                  eval_only_devices: Sequence[str] = (), clip_seconds: float = 1.0, sample_rate: int = 44100,
                  seed: int = 0, parallel: bool = False, **scene_options: Any) -> str:
    """Write a folder with the layout of the TAU 2020 Mobile development set, filled with synthetic scenes.

    Each class gets ``n_per_class`` segments (one location each), and every segment has one clip per device. By
    default each clip is a scene of its own (drawn afresh per device); with ``parallel=True`` the devices record
    the same scene (:meth:`~lightops.data.SyntheticScenes.record`), as devices a, b and c recorded the real set
    simultaneously, so a model's response to the device alone can be measured (``benchmarks.device_shift``).
    Even-numbered segments go to ``fold1_train.csv``, odd ones to ``fold1_evaluate.csv`` and ``fold1_test.csv``;
    ``eval_only_devices`` are recorded only for the evaluation segments. Audio is 24-bit PCM WAV at ``sample_rate``.

    Args:
        root: folder to create (or fill).
        n_per_class: segments per class (>= 2 so both splits get every class).
        devices: device ids recorded in both splits.
        eval_only_devices: device ids recorded only in the evaluation split (like s4-s6).
        clip_seconds: clip length.
        sample_rate: sampling rate of the files, in Hz.
        seed: seed of the synthetic audio.
        parallel: one scene per segment, recorded by every device (default: a scene per clip).
        scene_options: more :class:`~lightops.data.SyntheticScenes` options (``class_overlap``, ``event_density``,
            ``device_strength``, ``device_family``, ``snr_db``, ``level_jitter_db``), for a scene set of another
            difficulty or with other devices.

    Returns:
        ``root`` as a string.
    """
    if n_per_class < 1:
        raise ValueError(f"make_fake_tau: n_per_class must be >= 1, got {n_per_class}")
    import soundfile as sf

    root = os.fspath(root)
    os.makedirs(os.path.join(root, "audio"), exist_ok=True)
    os.makedirs(os.path.join(root, "evaluation_setup"), exist_ok=True)
    synth = SyntheticScenes("evaluate", num_clips=1, clip_seconds=clip_seconds, sample_rate=sample_rate,
                            seed=seed, devices=tuple(devices) + tuple(eval_only_devices), unseen_devices=(),
                            **scene_options)
    meta, train, evaluate = [], [], []
    for label, scene in enumerate(TAU_CLASSES):
        for seg in range(n_per_class):
            city = _CITIES[(label + seg) % len(_CITIES)]
            is_eval = seg % 2 == 1
            sound = synth.render_scene(label, np.random.default_rng([seed, label, seg])) if parallel else None
            for d, device in enumerate(tuple(devices) + (tuple(eval_only_devices) if is_eval else ())):
                name = f"audio/{scene}-{city}-{seg}-{seg}-{device}.wav"
                rng = np.random.default_rng([seed, label, seg, d])
                clip = synth.render(label, device, rng) if sound is None else synth.record(sound, device, rng)
                sf.write(os.path.join(root, name), clip, sample_rate, subtype="PCM_24")
                meta.append(f"{name}\t{scene}\t{city}-{seg}\t{device}")
                (evaluate if is_eval else train).append((name, scene))

    def write(path: str, lines: Sequence[str]) -> None:
        with open(os.path.join(root, path), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    write("meta.csv", ["filename\tscene_label\tidentifier\tsource_label"] + meta)
    write("evaluation_setup/fold1_train.csv", ["filename\tscene_label"] + [f"{n}\t{s}" for n, s in train])
    write("evaluation_setup/fold1_evaluate.csv", ["filename\tscene_label"] + [f"{n}\t{s}" for n, s in evaluate])
    write("evaluation_setup/fold1_test.csv", ["filename"] + [n for n, _ in evaluate])
    return root
