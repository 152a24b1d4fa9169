"""Blocks built from the operators: DSSDB, channel attention, multi-scale concatenation, input normalisation
(with inference forms)."""
from .attention import ATTN_TYPES, CCA, ECA, ChannelGate, create_attn, global_mean
from .clip_norm import ClipNorm
from .dssdb import DSSDB, PointwiseNormAct
from .dssdb_deploy import DeployDSSDB
from .input_norm import INPUT_NORMS, create_input_norm
from .multi_scale import LastScale, MultiScaleConcat, concat_scales
from .resnorm import ResNorm

__all__ = ["DSSDB", "PointwiseNormAct", "DeployDSSDB", "ECA", "CCA", "ChannelGate", "global_mean", "create_attn",
           "ATTN_TYPES", "MultiScaleConcat", "LastScale", "concat_scales", "ResNorm", "ClipNorm", "INPUT_NORMS",
           "create_input_norm"]
