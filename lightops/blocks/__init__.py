"""Blocks built from the operators: DSSDB and channel attention."""
from .attention import ATTN_TYPES, CCA, ECA, create_attn
from .dssdb import DSSDB, PointwiseNormAct

__all__ = ["DSSDB", "PointwiseNormAct", "ECA", "CCA", "create_attn", "ATTN_TYPES"]
