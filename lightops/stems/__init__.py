"""Frequency-split stems: the first layers of a model, which cut or decompose the log-mel frequency axis.

The log-mel front end and the augmentations are in :mod:`lightops.audio`.
"""
from .freq_split import STEM_TYPES, ConvStem, CutStem, HighLowStem, create_stem

__all__ = ["ConvStem", "CutStem", "HighLowStem", "create_stem", "STEM_TYPES"]
