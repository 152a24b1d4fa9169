"""Channel alignment for ONNX Runtime: pad a fused model's widths to whole blocks of its NCHWc layout.

ONNX Runtime runs pooling and concatenation in its blocked NCHWc layout only for channel counts that fill whole
blocks (16 floats with AVX-512); otherwise it reorders the tensor out and runs a plain NCHW kernel, many times
slower. :func:`align_channels` pads, in place, the channels a deployed model writes with channels that are always 0
(zero weights and biases, activations with act(0) = 0, ECA's gate times 0); the convolutions that read them get zero
weights, and so does the classifier: the outputs are unchanged. Each layer pads its own convolutions (the padding
methods of :class:`~lightops.blocks.DeployDSSDB` and of the stems); this module decides where, knowing no layer by
name. ``fuse(model, channel_align=16)`` calls it; :func:`lightops.deploy.export_onnx` uses 16.
"""
from typing import List, Tuple

import torch.nn as nn

from ..ops.padding import widen_inputs

__all__ = ["align_channels", "align_widths"]

_BLOCK_METHODS = ("accepts_padded_input", "take_padded_input", "can_pad_output", "pad_output")


def align_channels(model: nn.Module, align: int) -> nn.Module:
    """Pad every layer's distilled taps (``align_taps``) and a model's stem and block outputs (:func:`align_widths`)
    to a multiple of ``align`` channels, in place; ``model``."""
    for m in model.modules():
        if callable(getattr(m, "align_taps", None)):
            m.align_taps(align)
    align_widths(model, align)
    return model


def align_widths(model: nn.Module, align: int) -> None:
    """Pad the stem's and every block's output of a fused DSSDN-like model (``stem``, ``blocks``, ``head.fc``
    reading the blocks' concatenated outputs) to a multiple of ``align`` channels, in place.

    A block is left unpadded where it cannot pad its output or its successor cannot read a padded input (a residual
    adds it, or an operator reads it that is not a plain convolution chain).
    """
    blocks = list(getattr(model, "blocks", []))
    head = getattr(model, "head", None)
    fc = getattr(head, "fc", None)
    if (not blocks or not all(all(hasattr(b, n) for n in _BLOCK_METHODS) for b in blocks)
            or not isinstance(fc, nn.Linear) or fc.in_features != sum(b.out_chs for b in blocks)):
        return  # the head must read the concatenated outputs: checked before anything is padded
    width = lambda c: -(-c // align) * align  # noqa: E731
    stem = getattr(model, "stem", None)
    c0 = blocks[0].in_chs
    if (width(c0) != c0 and callable(getattr(stem, "can_pad_output", None)) and stem.can_pad_output()
            and blocks[0].accepts_padded_input()):
        stem.pad_output(width(c0))
        blocks[0].take_padded_input(width(c0))
    layout: List[Tuple[int, int]] = []  # (real, padded) channels of every block output, in the head's order
    for i, blk in enumerate(blocks):
        c, cp = blk.out_chs, width(blk.out_chs)
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if cp != c and blk.can_pad_output() and (nxt is None or nxt.accepts_padded_input()):
            blk.pad_output(cp)
            if nxt is not None:
                nxt.take_padded_input(cp)
        else:
            cp = c
        layout.append((c, cp))
    if any(c != cp for c, cp in layout):
        head.fc = widen_inputs(fc, layout)
