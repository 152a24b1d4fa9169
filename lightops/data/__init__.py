"""Data sets: TAU Urban Acoustic Scenes 2020 Mobile and the embedded synthetic scenes."""
from ._audio import AudioFileError, Clip, fit_length, read_audio
from .fake_tau import make_fake_tau
from .synthetic import EVENT_TYPES, SyntheticScenes
from .tau import TAU_CLASSES, TAU_DEVICES, TAUUrbanAcousticScenes2020Mobile, parse_device

__all__ = [
    "TAUUrbanAcousticScenes2020Mobile", "SyntheticScenes", "Clip", "AudioFileError", "make_fake_tau",
    "TAU_CLASSES", "TAU_DEVICES", "EVENT_TYPES", "parse_device", "read_audio", "fit_length",
]
