"""TAU Urban Acoustic Scenes 2020 Mobile, development set (DCASE 2020 Task 1A), as a torch Dataset.

The loader reads the layout of the official download (Zenodo record 3819968) once its zip files are extracted
into one folder::

    root/
      meta.csv                      filename, scene_label, identifier, source_label (tab-separated, header)
      evaluation_setup/
        fold1_train.csv             filename, scene_label
        fold1_evaluate.csv          filename, scene_label
        fold1_test.csv              filename
      audio/
        airport-barcelona-0-0-a.wav <scene>-<city>-<location>-<segment>-<device>.wav, 44.1 kHz mono 24-bit, 10 s

The ``filename`` column holds paths relative to ``root`` (``audio/airport-barcelona-0-0-a.wav``); a bare file
name is looked up in ``root/audio``.
"""
from __future__ import annotations

import csv
import os
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import Dataset

from ._audio import Clip, PathLike, fit_length, read_audio

__all__ = ["TAUUrbanAcousticScenes2020Mobile", "TAU_CLASSES", "TAU_DEVICES", "parse_device", "parse_segment",
           "scene_classes"]

TAU_CLASSES: Tuple[str, ...] = ("airport", "bus", "metro", "metro_station", "park", "public_square",
                                "shopping_mall", "street_pedestrian", "street_traffic", "tram")
"""The ten scene labels, sorted; a label's index is its position here."""

TAU_DEVICES: Tuple[str, ...] = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
"""Devices of the development set; s4-s6 appear only in its evaluation fold."""

SPLITS = ("train", "evaluate", "test", "all")


def _split_name(filename: str, what: str) -> Tuple[str, str]:
    """``(recording, device)`` of a TAU file name: its stem split at the last dash; errors name ``what`` was asked."""
    stem = os.path.splitext(os.path.basename(filename))[0]
    if "-" not in stem:
        raise ValueError(f"cannot parse a {what} from {filename!r}: expected <scene>-<city>-<location>-<segment>-"
                         f"<device>.wav")
    recording, device = stem.rsplit("-", 1)
    return recording, device


def parse_device(filename: str) -> str:
    """Device id from a TAU file name: the last dash-separated field of its stem (``...-0-0-s1.wav`` -> ``s1``)."""
    return _split_name(filename, "device")[1]


def parse_segment(filename: str) -> str:
    """The recording a TAU file belongs to: its stem without the device (``...-0-0-s1.wav`` -> ``...-0-0``), the
    same for every device that recorded it."""
    return _split_name(filename, "segment")[0]


def _read_table(path: str) -> List[dict]:
    """Rows of a tab-separated file with a header, as dicts; errors name the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"TAU metadata file not found: {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if reader.fieldnames is None or "filename" not in reader.fieldnames:
            raise ValueError(f"{path}: expected a tab-separated header with a 'filename' column, got "
                             f"{reader.fieldnames!r}")
        return [row for row in reader if row.get("filename")]


def scene_classes(root: PathLike, fold: int = 1) -> Tuple[str, ...]:
    """The scene classes of a folder in the TAU layout: :data:`TAU_CLASSES` when every label it holds is one of them
    (the TAU Mobile sets, DCASE 2020-2025, and any part of them), else its own labels, sorted (another scene set in
    the same layout, such as TAU Urban Acoustic Scenes 2020 3Class's ``indoor`` / ``outdoor`` / ``transportation``).

    The labels are those of ``meta.csv``, or, without one, of ``evaluation_setup/fold<fold>_train.csv`` and
    ``fold<fold>_evaluate.csv``: every split of a folder gets the same class list, so a label's index does not
    depend on the split. A folder with no labels at all (an evaluation set) has :data:`TAU_CLASSES`; one with a
    single label outside them is refused (``ValueError``).
    """
    root = os.fspath(root)
    meta = os.path.join(root, "meta.csv")
    lists = [meta] if os.path.isfile(meta) else [
        os.path.join(root, "evaluation_setup", f"fold{fold}_{split}.csv") for split in ("train", "evaluate")]
    labels = {(row.get("scene_label") or "").strip() for path in lists if os.path.isfile(path)
              for row in _read_table(path)}
    labels.discard("")
    if labels <= set(TAU_CLASSES):
        return TAU_CLASSES
    if len(labels) < 2:
        raise ValueError(f"{root}: a scene set needs two or more scene labels, its lists hold only {sorted(labels)}")
    return tuple(sorted(labels))


class TAUUrbanAcousticScenes2020Mobile(Dataset):
    """A folder in the layout of the TAU Urban Acoustic Scenes 2020 Mobile development set (10 scenes, devices a, b,
    c, s1-s6), or of another scene set written the same way (its classes from its labels: :func:`scene_classes`).

    Items are :class:`~lightops.data.Clip` named tuples ``(waveform, label, device)``: ``waveform`` float32
    ``(samples,)`` (``clip_seconds * sample_rate`` samples, zero-padded or cropped at the end), ``label`` the
    index in :attr:`classes` (-1 for the ``test`` split, whose list has no labels), ``device`` the id parsed
    from the file name. Multi-channel files are mixed down to mono by averaging. Audio is read lazily, in
    ``__getitem__``; a missing, unreadable, corrupt or truncated file, one holding NaN or infinite samples, or one
    at another sample rate (unless ``resample``), raises an error naming the file.

    :attr:`classes` is :data:`TAU_CLASSES` for the TAU Mobile sets (the class attribute), the folder's own sorted
    labels for another scene set (``scene_classes``), or the ``classes`` given.

    Args:
        root: folder holding ``evaluation_setup/`` and ``audio/`` (and ``meta.csv``).
        split: ``"train"``, ``"evaluate"`` or ``"test"`` (lists of ``evaluation_setup/fold<fold>_<split>.csv``),
            or ``"all"`` for every file in ``meta.csv``.
        fold: cross-validation fold of the list files (the development set ships fold 1).
        clip_seconds: length every waveform is padded or cropped to.
        sample_rate: rate of the returned waveforms, in Hz.
        resample: resample files whose rate differs from ``sample_rate`` (needs scipy) instead of raising.
        transform: optional callable applied to the waveform tensor ``(samples,)``.
        classes: the class list (a trained model's, for example); ``None``: :func:`scene_classes` of the folder.
    """

    classes: Tuple[str, ...] = TAU_CLASSES

    def __init__(self, root: PathLike, split: str = "train", fold: int = 1, clip_seconds: float = 10.0,
                 sample_rate: int = 44100, resample: bool = False,
                 transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 classes: Optional[Sequence[str]] = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if isinstance(fold, bool) or not isinstance(fold, int) or fold < 1:
            raise ValueError(f"fold must be a positive int, got {fold!r}")
        if not clip_seconds > 0:
            raise ValueError(f"clip_seconds must be > 0, got {clip_seconds!r}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"TAU root folder not found: {self.root}")
        self.split = split
        self.fold = fold
        self.clip_seconds = float(clip_seconds)
        self.sample_rate = sample_rate
        self.num_samples = int(round(self.clip_seconds * sample_rate))
        self.resample = bool(resample)
        self.transform = transform
        if classes is not None and (isinstance(classes, str) or len(classes) < 2
                                    or len(set(classes)) != len(classes)):
            raise ValueError(f"classes must be two or more distinct names, got {classes!r}")
        self.classes = tuple(classes) if classes is not None else scene_classes(self.root, fold)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        if split == "all":
            list_path = os.path.join(self.root, "meta.csv")
        else:
            list_path = os.path.join(self.root, "evaluation_setup", f"fold{fold}_{split}.csv")
        self.list_path = list_path
        rows = _read_table(list_path)
        if not rows:
            raise ValueError(f"split {split!r} is empty: {list_path} lists no files")
        audio_dir = os.path.join(self.root, "audio")
        if not os.path.isdir(audio_dir):
            raise FileNotFoundError(f"TAU audio folder not found: {audio_dir}")
        self.samples: List[Tuple[str, int, str]] = []  # (path, label, device)
        for row in rows:
            name = row["filename"].strip()
            path = os.path.join(self.root, name) if os.path.dirname(name) else os.path.join(audio_dir, name)
            if split == "test":
                label = -1
            else:
                scene = (row.get("scene_label") or "").strip()
                if scene not in self.class_to_idx:
                    raise ValueError(f"{list_path}: file {name} has scene_label {scene!r}, expected one of "
                                     f"{list(self.classes)}")
                label = self.class_to_idx[scene]
            self.samples.append((path, label, parse_device(name)))
        self.targets: List[int] = [label for _, label, _ in self.samples]
        self.devices: Tuple[str, ...] = tuple(sorted({device for _, _, device in self.samples}))

    @property
    def num_classes(self) -> int:
        """Number of scene classes (10 for the TAU Mobile sets)."""
        return len(self.classes)

    def label_of(self, index: int) -> int:
        """Class index of item ``index`` (-1 in the test split), without reading audio."""
        return self.samples[index][1]

    def device_of(self, index: int) -> str:
        """Device id of item ``index``, without reading audio."""
        return self.samples[index][2]

    def name_of(self, index: int) -> str:
        """Stable name of item ``index``: its file name as the split lists it (``audio/...wav``)."""
        return os.path.relpath(self.samples[index][0], self.root).replace(os.sep, "/")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Clip:
        """Read item ``index``: ``Clip(waveform (samples,) float32, label, device)``.

        Raises:
            FileNotFoundError, AudioFileError, NonFiniteError: as :func:`~lightops.data.read_audio`, naming the file
                (a :class:`~lightops.data.NonFiniteError` for NaN or infinite samples is an ``AudioFileError``).
        """
        path, label, device = self.samples[index]
        x = read_audio(path, self.sample_rate, resample_audio=self.resample)  # (n,), finite
        waveform = torch.from_numpy(fit_length(x, self.num_samples).copy())  # (num_samples,)
        if self.transform is not None:
            waveform = self.transform(waveform)
        return Clip(waveform, label, device)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(root={self.root!r}, split={self.split!r}, fold={self.fold}, "
                f"clips={len(self)}, devices={list(self.devices)}, sample_rate={self.sample_rate})")
