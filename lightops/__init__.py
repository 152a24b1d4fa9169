"""lightops: lightweight operators, blocks and DSSDN models for acoustic scene classification.

Operators (``SC``, ``OSC``, ``SPC``) sit in :mod:`lightops.ops`, blocks in :mod:`lightops.blocks`, stems in
:mod:`lightops.stems`, models in :mod:`lightops.models` (registered in timm's registry on import).
"""
from . import blocks, data, models, ops, profiling, stems
from ._factory import create_model, is_lightops_model, list_models
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
from .stems import LogMel, SpecAugment, mixup

__version__ = "0.1.0"

__all__ = [
    "SeparableConv2d", "SC", "OrthoSeparableConv2d", "OSC", "SeparablePartialConv2d", "SPC",
    "register_op", "create_op", "list_ops", "ortho_reg_loss",
    "DSSDB", "DSSDN", "DSSDNCfg", "BlockCfg", "StemCfg", "create_model", "list_models", "is_lightops_model",
    "profile", "latency", "fit_budget", "LogMel", "SpecAugment", "mixup",
    "SyntheticScenes", "TAUUrbanAcousticScenes2020Mobile", "Clip", "make_fake_tau",
    "ops", "blocks", "stems", "models", "profiling", "data", "__version__",
]
