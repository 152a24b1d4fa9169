"""The front end of a trained model: waveform -> log-mel -> the training set's normalisation, with augmentations.

::

    waveform (B, N) --LogMel--> (B, 1, n_mels, T) dB --(x - mean) / std--> model input
                                                        \\-- training only: augmentation steps, in order

The settings travel with every checkpoint (``FrontEnd.config()``, key ``frontend``) so that evaluation, export and
prediction rebuild exactly the input a model was trained on (:meth:`FrontEnd.from_config`).
"""
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from ..validation import check_float
from .augment import SpecAugment
from .mel import LogMel

__all__ = ["FrontEnd"]

_CONFIG_KEYS = ("sample_rate", "n_fft", "hop_length", "n_mels", "mean", "std", "freq_mask", "time_mask")


class FrontEnd(nn.Module):
    """Waveform to normalised log-mel, ``(LogMel(x) - mean) / std``, with augmentation steps in training mode.

    An augmentation step is any ``nn.Module`` mapping ``(B, 1, F, T)`` to the same shape and acting only in
    training mode (:class:`~lightops.audio.SpecAugment`, :class:`~lightops.audio.FreqMixStyle`, your own). If a
    step has a ``generator`` attribute, :meth:`augment` sets it to the generator it is given for the duration of
    the call, so a run's augmentations are reproducible without touching the global random state.

    Args:
        sample_rate: rate of the waveforms, Hz.
        n_fft: FFT size.
        hop_length: hop in samples.
        n_mels: mel bins.
        mean: mean of the training log-mel in dB.
        std: its standard deviation in dB.
        freq_mask: widest SpecAugment frequency mask in bins (0: none).
        time_mask: widest SpecAugment time mask in frames (0: none).
        steps: further augmentation steps, applied in order before SpecAugment.

    Shape:
        ``(B, N) -> (B, 1, n_mels, T)``.
    """

    def __init__(self, sample_rate: int = 44100, n_fft: int = 4096, hop_length: int = 1024, n_mels: int = 256,
                 mean: float = 0.0, std: float = 1.0, freq_mask: int = 0, time_mask: int = 0,
                 steps: Sequence[nn.Module] = ()) -> None:
        super().__init__()
        check_float(std, "FrontEnd: std", minimum=0.0, open_min=True)
        self.logmel = LogMel(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.mean, self.std = float(mean), float(std)
        self.specaug = SpecAugment(freq_mask, time_mask) if freq_mask or time_mask else None
        self.steps = nn.ModuleList(list(steps) + ([self.specaug] if self.specaug is not None else []))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` waveform -> ``(B, 1, n_mels, T)`` normalised log-mel (no augmentation)."""
        return (self.logmel(waveform) - self.mean) / self.std

    def augment(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Run the augmentation steps on ``x`` ``(B, 1, F, T)`` in training mode, drawing from ``generator``."""
        if not self.training:
            return x
        seeded: List[nn.Module] = [s for s in self.steps if hasattr(s, "generator")]
        for step in seeded:
            step.generator = generator
        try:
            for step in self.steps:
                x = step(x)
        finally:
            for step in seeded:
                step.generator = None
        return x

    def config(self) -> Dict[str, Any]:
        """JSON-ready settings; :meth:`from_config` rebuilds an equal module (checkpoint key ``frontend``).

        Augmentation steps other than SpecAugment are training settings, recorded with the run's options.
        """
        m = self.logmel
        return dict(sample_rate=m.sample_rate, n_fft=m.n_fft, hop_length=m.hop_length, n_mels=m.n_mels,
                    log="power_db", mean=self.mean, std=self.std,
                    freq_mask=self.specaug.freq_mask if self.specaug else 0,
                    time_mask=self.specaug.time_mask if self.specaug else 0)

    @classmethod
    def from_config(cls, cfg: Dict[str, Any], **overrides: Any) -> "FrontEnd":
        """Build from :meth:`config`'s dict (missing keys take the defaults; ``overrides`` win)."""
        if not isinstance(cfg, dict):
            raise ValueError(f"FrontEnd.from_config: expected a dict of front-end settings, got {type(cfg).__name__}")
        return cls(**{**{k: cfg[k] for k in _CONFIG_KEYS if k in cfg}, **overrides})
