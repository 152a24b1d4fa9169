"""The audio pipeline in front of a model: log-mel front end, input normalisation and augmentation.

- :class:`LogMel`: waveform ``(B, N)`` -> log-mel ``(B, 1, n_mels, T)`` in dB, librosa-compatible.
- :class:`FrontEnd`: ``LogMel`` plus the training set's normalisation, with training-time augmentations as steps.
- :class:`SpecAugment`, :func:`mixup`, :class:`FreqMixStyle`, :class:`FreqDSU`, :class:`FilterAugment`:
  augmentations of the log-mel batch.

The frequency-split stems that are part of a model live in :mod:`lightops.stems`.
"""
from .augment import SpecAugment, mixup
from .filter_augment import FilterAugment, filter_gains_db
from .freq_dsu import FreqDSU
from .freq_mixstyle import FreqMixStyle
from .frontend import FrontEnd
from .mel import LogMel, hz_to_mel, mel_filterbank, mel_to_hz

__all__ = ["FrontEnd", "LogMel", "mel_filterbank", "hz_to_mel", "mel_to_hz", "SpecAugment", "mixup", "FreqMixStyle",
           "FreqDSU", "FilterAugment", "filter_gains_db"]
