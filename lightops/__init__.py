"""lightops: lightweight operators, blocks and DSSDN models for acoustic scene classification."""
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

__version__ = "0.1.0"

__all__ = [
    "SeparableConv2d", "SC", "OrthoSeparableConv2d", "OSC", "SeparablePartialConv2d", "SPC",
    "register_op", "create_op", "list_ops", "ortho_reg_loss", "__version__",
]
