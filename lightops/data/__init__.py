"""Data: TAU Urban Acoustic Scenes 2020 Mobile, the embedded synthetic scenes, and waveform augmentations for
device robustness (device impulse responses, time rolling), training subsets."""
from ._audio import AudioFileError, Clip, NonFiniteError, check_finite, fit_length, read_audio
from .device_response import DeviceImpulseResponses
from .fake_tau import make_fake_tau
from .roll import TimeRoll
from .subset import TRAIN_FRACTIONS, stratified_subset
from .synthetic import EVENT_TYPES, SyntheticScenes
from .tau import TAU_CLASSES, TAU_DEVICES, TAUUrbanAcousticScenes2020Mobile, parse_device, scene_classes

__all__ = [
    "TAUUrbanAcousticScenes2020Mobile", "SyntheticScenes", "Clip", "AudioFileError", "NonFiniteError", "check_finite",
    "make_fake_tau", "TAU_CLASSES", "TAU_DEVICES", "EVENT_TYPES", "parse_device", "scene_classes", "read_audio",
    "fit_length", "DeviceImpulseResponses", "TimeRoll", "stratified_subset", "TRAIN_FRACTIONS",
]
