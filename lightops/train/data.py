"""The data of a run: the training and evaluation sets, in-memory caching, a first-clip check, and the input
normalisation statistics."""
import math
import os
from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..audio import LogMel
from ..data import SyntheticScenes, TAUUrbanAcousticScenes2020Mobile, stratified_subset
from .config import TrainConfig
from .distributed import DistEnv, broadcast_object

__all__ = ["build_datasets", "CachedDataset", "DatasetView", "IndexedDataset", "preflight", "norm_stats",
           "frontend_settings"]


def frontend_settings(cfg: TrainConfig) -> Dict[str, int]:
    """The log-mel settings of a run (what a teacher must share)."""
    return dict(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels)


def build_datasets(cfg: TrainConfig) -> Tuple[Dataset, Dataset]:
    """The training and evaluation sets ``cfg.data`` names: synthetic scenes, or a TAU 2020 Mobile folder; the
    training set is cut to ``cfg.train_fraction`` (a stratified, nested DCASE 2024 subset) when below 1.

    Raises:
        FileNotFoundError: ``cfg.data`` is neither ``"synthetic"`` nor an existing folder, or a TAU file is missing.
        ValueError: an empty split or bad metadata.
    """
    if cfg.synthetic:
        n_train, n_eval = cfg.synthetic_clips()
        kw = dict(clip_seconds=cfg.clip_length, sample_rate=cfg.sample_rate, seed=cfg.data_seed,
                  device_family=cfg.synthetic_devices)
        return _subset(SyntheticScenes("train", num_clips=n_train, **kw), cfg), SyntheticScenes(
            "evaluate", num_clips=n_eval, **kw)
    if not os.path.isdir(cfg.data):
        raise FileNotFoundError(f"data folder not found: {cfg.data!r}; expected 'synthetic' or the folder of a TAU "
                                f"Urban Acoustic Scenes 2020 Mobile download (with evaluation_setup/ and audio/)")
    kw = dict(fold=cfg.fold, clip_seconds=cfg.clip_length, sample_rate=cfg.sample_rate,
              resample=cfg.resample)
    return (_subset(TAUUrbanAcousticScenes2020Mobile(cfg.data, "train", **kw), cfg),
            TAUUrbanAcousticScenes2020Mobile(cfg.data, "evaluate", **kw))


def _subset(train_set: Dataset, cfg: TrainConfig) -> Dataset:
    if cfg.train_fraction >= 1.0:
        return train_set
    return DatasetView(train_set, stratified_subset(train_set, cfg.train_fraction, seed=cfg.data_seed))


class CachedDataset(Dataset):
    """All items of ``dataset`` read once, with ``workers`` processes, and kept in memory.

    Args:
        dataset: items ``(waveform, label, device)``; its ``classes`` and ``devices`` are kept.
        workers: DataLoader worker processes used for the one read.
    """

    def __init__(self, dataset: Dataset, workers: int = 0) -> None:
        self.classes = dataset.classes
        self.devices = getattr(dataset, "devices", ())
        self.source = dataset
        loader = DataLoader(dataset, batch_size=32, num_workers=workers, collate_fn=list)
        self._items = [item for batch in loader for item in batch]

    def name_of(self, index: int) -> str:
        """The source data set's name of item ``index``."""
        return self.source.name_of(index)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Any:
        return self._items[index]


class DatasetView(Dataset):
    """The items ``indices`` of ``dataset`` (a training subset), keeping its classes, devices and item names.

    Args:
        dataset: the data set.
        indices: the items kept, in order.
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.source, self.indices = dataset, list(indices)
        self.classes = dataset.classes
        self.devices = tuple(sorted({dataset.device_of(i) for i in self.indices}))

    def name_of(self, index: int) -> str:
        """Name of item ``index`` of the view."""
        return self.source.name_of(self.indices[index])

    def label_of(self, index: int) -> int:
        """Class of item ``index`` of the view."""
        return self.source.label_of(self.indices[index])

    def device_of(self, index: int) -> str:
        """Device of item ``index`` of the view."""
        return self.source.device_of(self.indices[index])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.source[self.indices[index]]


class IndexedDataset(Dataset):
    """Items of ``dataset`` with their index appended, ``(waveform, label, device, index)``: what the training
    step needs to look up stored per-clip targets (teacher logits)."""

    def __init__(self, dataset: Dataset) -> None:
        self.source = dataset

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Any:
        return (*self.source[index], index)


def preflight(dataset: Dataset, split: str) -> int:
    """Read the first clip (catches unreadable files and wrong sample rates before anything is written).

    Returns:
        The number of samples of a clip.
    """
    if len(dataset) == 0:
        raise ValueError(f"the {split} split is empty")
    waveform = dataset[0][0]
    if waveform.dim() != 1 or waveform.numel() == 0:
        raise ValueError(f"the {split} split gives waveforms of shape {list(waveform.shape)}; expected (samples,)")
    return waveform.numel()


def norm_stats(dataset: Dataset, cfg: TrainConfig, env: DistEnv) -> Tuple[float, float]:
    """Mean and std (dB) of the log-mel over ``norm_clips`` evenly spaced training clips (rank 0, broadcast)."""
    stats = None
    if env.is_main:
        n = len(dataset)
        idx = np.unique(np.linspace(0, n - 1, min(cfg.norm_clips, n)).round().astype(int))
        mel = LogMel(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels)
        total, total_sq, count = 0.0, 0.0, 0
        with torch.no_grad():
            for start in range(0, len(idx), 16):
                wave = torch.stack([dataset[int(i)][0] for i in idx[start:start + 16]])
                x = mel(wave).double()
                total, total_sq, count = total + float(x.sum()), total_sq + float((x * x).sum()), count + x.numel()
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean * mean, 1e-12))
        stats = (mean, std)
    return broadcast_object(stats, env)
