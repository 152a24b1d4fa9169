"""Blocks built from the operators: DSSDB, channel attention, and multi-scale fusion."""
from .attention import ATTN_TYPES, CCA, ECA, create_attn
from .dssdb import DSSDB, PointwiseNormAct
from .scale_fusion import MultiScaleFusion, fuse_scales

__all__ = ["DSSDB", "PointwiseNormAct", "ECA", "CCA", "create_attn", "ATTN_TYPES", "MultiScaleFusion", "fuse_scales"]
