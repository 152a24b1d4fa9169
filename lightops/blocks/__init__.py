"""Blocks built from the operators: DSSDB, channel attention, multi-scale concatenation (with inference forms)."""
from .attention import ATTN_TYPES, CCA, ECA, ChannelGate, create_attn, global_mean
from .dssdb import DSSDB, PointwiseNormAct
from .dssdb_deploy import DeployDSSDB
from .multi_scale import MultiScaleConcat, concat_scales

__all__ = ["DSSDB", "PointwiseNormAct", "DeployDSSDB", "ECA", "CCA", "ChannelGate", "global_mean", "create_attn",
           "ATTN_TYPES", "MultiScaleConcat", "concat_scales"]
