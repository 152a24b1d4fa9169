"""Stems: log-mel front end, augmentation and frequency-split stems."""
from .augment import SpecAugment, mixup
from .freq_split import STEM_TYPES, ConvStem, CutStem, HighLowStem, create_stem
from .mel import LogMel, mel_filterbank

__all__ = ["ConvStem", "CutStem", "HighLowStem", "create_stem", "STEM_TYPES", "LogMel", "mel_filterbank",
           "SpecAugment", "mixup"]
