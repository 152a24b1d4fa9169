"""Data-efficient training subsets (DCASE 2024 Task 1): fixed fractions of the training split, stratified by class
and device, nested (the 5 % subset lies inside the 10 % one, and so on), the same on every run with the same seed."""
import math
import zlib
from typing import Dict, List, Tuple

import numpy as np
from torch.utils.data import Dataset

__all__ = ["stratified_subset", "TRAIN_FRACTIONS"]

TRAIN_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
"""The subset sizes of DCASE 2024 Task 1's data-efficient setting."""


def stratified_subset(dataset: Dataset, fraction: float, seed: int = 0) -> List[int]:
    """Indices of a ``fraction`` of ``dataset``, the same fraction of every (class, device) group.

    Each group's items are put in an order drawn from ``seed`` and the group's name, and the first
    ``ceil(fraction * size)`` are kept; a smaller fraction therefore takes a prefix of a larger one's picks. The
    data set must tell labels and devices without reading audio (``label_of(i)``, ``device_of(i)``, as
    :class:`~lightops.data.SyntheticScenes` and :class:`~lightops.data.TAUUrbanAcousticScenes2020Mobile` do).

    Args:
        dataset: the training split.
        fraction: one of :data:`TRAIN_FRACTIONS`.
        seed: seed of the orders.

    Returns:
        Sorted indices.

    Raises:
        ValueError: a fraction outside :data:`TRAIN_FRACTIONS`, or a data set without ``label_of``/``device_of``.
    """
    if fraction not in TRAIN_FRACTIONS:
        raise ValueError(f"train fraction must be one of {list(TRAIN_FRACTIONS)} (DCASE 2024 subsets), got "
                         f"{fraction!r}")
    if not (callable(getattr(dataset, "label_of", None)) and callable(getattr(dataset, "device_of", None))):
        raise ValueError(f"stratified_subset: {type(dataset).__name__} has no label_of/device_of methods")
    groups: Dict[Tuple[int, str], List[int]] = {}
    for i in range(len(dataset)):
        groups.setdefault((dataset.label_of(i), dataset.device_of(i)), []).append(i)
    picked: List[int] = []
    for (label, device), members in sorted(groups.items()):
        key = zlib.crc32(f"{label}/{device}".encode())
        order = np.random.default_rng([seed, key]).permutation(len(members))
        picked += [members[j] for j in order[: math.ceil(fraction * len(members))]]
    return sorted(picked)
