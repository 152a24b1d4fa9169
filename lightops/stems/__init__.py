"""Stems: log-mel front end, augmentation and frequency-split stems."""
from .freq_split import STEM_TYPES, ConvStem, CutStem, HighLowStem, create_stem

__all__ = ["ConvStem", "CutStem", "HighLowStem", "create_stem", "STEM_TYPES"]
