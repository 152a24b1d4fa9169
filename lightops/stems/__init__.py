"""Frequency-split stems: the first layers of a model, which cut or decompose the log-mel frequency axis.

The log-mel front end and the augmentations moved to :mod:`lightops.audio`; their old names here still resolve,
with a ``DeprecationWarning``.
"""
from .._deprecation import moved_names
from .freq_split import STEM_TYPES, ConvStem, CutStem, HighLowStem, create_stem

__all__ = ["ConvStem", "CutStem", "HighLowStem", "create_stem", "STEM_TYPES"]

__getattr__ = moved_names(__name__, {name: "lightops.audio" for name in ("LogMel", "mel_filterbank", "SpecAugment",
                                                                         "mixup")})
