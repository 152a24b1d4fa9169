"""Deep Space Separable Operators (SC, OSC, SPC) and the operator registry."""
from ._registry import create_op, get_op_class, list_ops, register_op
from .base import SeparableOpBase, count_params
from .conv_chain import ConvChain
from .depthwise_pair import DepthwiseConv3x3, DepthwisePair
from .ortho_separable_conv import OSC, OrthoPointwise, OrthoSeparableConv2d, ortho_reg_loss
from .separable_conv import SC, SeparableConv2d
from .separable_partial_conv import SPC, FoldedPartialConv2d, SeparablePartialConv2d

__all__ = [
    "register_op", "create_op", "list_ops", "get_op_class", "SeparableOpBase", "count_params", "DepthwisePair",
    "DepthwiseConv3x3", "SeparableConv2d", "SC", "OrthoSeparableConv2d", "OSC", "OrthoPointwise", "ortho_reg_loss",
    "SeparablePartialConv2d", "SPC", "FoldedPartialConv2d", "ConvChain",
]
