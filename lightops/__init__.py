"""lightops: lightweight operators, blocks and DSSDN models for acoustic scene classification.

Operators (``SC``, ``OSC``, ``SPC``) sit in :mod:`lightops.ops`, blocks in :mod:`lightops.blocks`, stems in
:mod:`lightops.stems`, models in :mod:`lightops.models` (registered in timm's registry on import), the audio
pipeline in :mod:`lightops.audio`, data sets in :mod:`lightops.data`. :mod:`lightops.checkpoint`,
:mod:`lightops.train` and :mod:`lightops.deploy` are imported on first access (``lightops.train.train(...)``).
"""
import importlib
from typing import Any

from . import audio, blocks, data, models, ops, profiling, stems
from ._factory import create_model, is_lightops_model, list_models
from .audio import FrontEnd, LogMel, SpecAugment, mixup
from .blocks import DSSDB
from .data import Clip, SyntheticScenes, TAUUrbanAcousticScenes2020Mobile, make_fake_tau
from .models import DSSDN, BlockCfg, DSSDNCfg, StemCfg
from .ops import (
    OSC,
    SC,
    SPC,
    OrthoSeparableConv2d,
    SeparableConv2d,
    SeparablePartialConv2d,
    create_op,
    list_ops,
    ortho_reg_loss,
    register_op,
)
from .profiling import fit_budget, latency, profile

__version__ = "0.1.0"

__all__ = [
    "SeparableConv2d", "SC", "OrthoSeparableConv2d", "OSC", "SeparablePartialConv2d", "SPC",
    "register_op", "create_op", "list_ops", "ortho_reg_loss",
    "DSSDB", "DSSDN", "DSSDNCfg", "BlockCfg", "StemCfg", "create_model", "list_models", "is_lightops_model",
    "profile", "latency", "fit_budget", "FrontEnd", "LogMel", "SpecAugment", "mixup",
    "SyntheticScenes", "TAUUrbanAcousticScenes2020Mobile", "Clip", "make_fake_tau",
    "ops", "blocks", "stems", "models", "profiling", "data", "audio", "checkpoint", "fileio", "validation", "train",
    "deploy", "__version__",
]

_LAZY = ("checkpoint", "fileio", "validation", "train", "deploy")


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # heavier subpackages (training, ONNX export) load on first use
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
