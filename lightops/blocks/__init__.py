"""Blocks built from the operators: DSSDB, channel attention, and multi-scale fusion (with their inference forms)."""
from .attention import ATTN_TYPES, CCA, ECA, ChannelGate, create_attn, global_mean
from .dssdb import DSSDB, PointwiseNormAct
from .dssdb_deploy import DeployDSSDB
from .scale_fusion import MultiScaleFusion, fuse_scales

__all__ = ["DSSDB", "PointwiseNormAct", "DeployDSSDB", "ECA", "CCA", "ChannelGate", "global_mean", "create_attn",
           "ATTN_TYPES", "MultiScaleFusion", "fuse_scales"]
