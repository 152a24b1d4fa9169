"""Common base of the Deep Space Separable Operators (DSSO).

Every operator maps ``(B, in_chs, F, T) -> (B, out_chs, F', T')`` with 'same' padding, so
``F' = (F - 1) // stride_f + 1`` and ``T' = (T - 1) // stride_t + 1``. The base class holds that shape
rule, the optional output norm/activation, input validation and the ``macs``/``params`` contract that
blocks, profilers and tests rely on. A user's own operator subclasses it (or provides the same methods)
and registers with :func:`lightops.register_op`.
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple, Type, Union

import torch
import torch.nn as nn
from timm.layers import create_act_layer, get_norm_layer

from .. import validation
from ..validation import IntOrPair, check_channels, check_input_size, conv_out_len, to_pair
from .conv_chain import ConvChain
from .depthwise_pair import DepthwiseConv3x3, DepthwisePair
from .folding import fold_norm_into

LayerType = Union[str, Type[nn.Module], Callable[..., nn.Module], None]

__all__ = ["SeparableOpBase", "LayerType", "count_params"]

_PLAIN_CONVS = (nn.Conv2d, DepthwiseConv3x3)


def count_params(module: Optional[nn.Module]) -> int:
    """Number of trainable parameters of ``module`` (0 for ``None``)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class SeparableOpBase(nn.Module):
    """Base class: shapes, validation, optional norm + activation after the operator.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        stride: stride ``(frequency, time)`` or one int for both.
        dilation: dilation of the depthwise kernels ``(frequency, time)`` or one int.
        norm_layer: normalisation applied to the output (name such as ``"batchnorm2d"`` or a class), or None.
        act_layer: activation applied after the norm (name such as ``"relu"`` or a class), or None.

    Subclasses build their convolutions and implement ``_forward``, ``macs`` and ``_conv_params``. Two methods give
    the operator's inference form, both called by :func:`lightops.deploy.fuse` on an eval-mode copy:

    - :meth:`fold_norm` folds a BatchNorm ``norm`` into the last convolution, by default the depthwise pair's time
      convolution ``self.dw.conv_t`` (or a merged ``self.dw``); an operator whose output comes from elsewhere
      overrides it;
    - :meth:`inference_form` returns the module that replaces the operator at inference (its children already in
      theirs): every layer of lightops with a deployment form has this method, and the walk
      (:func:`lightops.deploy.to_inference_form`) knows no layer by name. The default is the operator itself; an
      operator that can run as a plainer module (SC, OSC, SPC: a :class:`~lightops.ops.ConvChain`) overrides it.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        stride: IntOrPair = 1,
        dilation: IntOrPair = 1,
        norm_layer: LayerType = None,
        act_layer: LayerType = None,
    ) -> None:
        super().__init__()
        self.op_label = type(self).__name__  # names the operator in error messages (a str for TorchScript)
        self.in_chs = check_channels(in_chs, "in_chs")
        self.out_chs = check_channels(out_chs, "out_chs")
        self.stride = to_pair(stride, "stride")
        self.dilation = to_pair(dilation, "dilation")
        norm_cls = get_norm_layer(norm_layer) if norm_layer is not None else None
        self.norm = norm_cls(self.out_chs) if norm_cls is not None else nn.Identity()
        self.act = create_act_layer(act_layer) if act_layer is not None else nn.Identity()

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, F, T)`` for an input ``(C, F, T)``."""
        _, f, t = check_input_size(input_size, type(self).__name__, self.in_chs)
        return self.out_chs, conv_out_len(f, self.stride[0]), conv_out_len(t, self.stride[1])

    def params(self) -> int:
        """Trainable parameters from the formula in the class docstring (plus the norm layer's own)."""
        return self._conv_params() + count_params(self.norm)

    def _conv_params(self) -> int:
        raise NotImplementedError

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """Multiply-accumulates of one forward pass at batch 1 for an input ``(C, F, T)``."""
        raise NotImplementedError

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dtype_weight(self) -> Optional[torch.Tensor]:
        """A weight whose dtype the input must have, checked in :meth:`forward` (None: not checked). The operators
        of lightops give their first convolution's; an operator of your own may give its own."""
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chs, F, T) -> (B, out_chs, F', T')``."""
        validation.check_input(x, self.in_chs, self.op_label)
        weight = self.dtype_weight()
        if weight is not None:
            validation.check_dtype(x, weight, self.op_label)
        return self.act(self.norm(self._forward(x)))

    def fold_norm(self) -> nn.Module:
        """Fold the eval-mode BatchNorm ``self.norm`` into the operator's last convolution, in place.

        Returns:
            The module to use instead (``self``, its ``norm`` now an ``nn.Identity``).
        """
        dw = getattr(self, "dw", None)
        if isinstance(dw, DepthwisePair):
            return fold_norm_into(self, dw, "conv_t")
        if isinstance(dw, nn.Conv2d):  # a depthwise pair already merged into one convolution
            return fold_norm_into(self, self, "dw")
        raise NotImplementedError(f"{type(self).__name__}.fold_norm: no depthwise pair 'dw' to fold the norm into; "
                                  f"override fold_norm()")

    def inference_form(self) -> nn.Module:
        """The module that computes this operator at inference, built from it as it stands (eval mode, its norm
        folded, its children already in their inference form); it may reuse the operator's children.

        Returns:
            ``self`` here: a user's operator runs as it is unless it overrides this method (SC, OSC and SPC return
            their :class:`~lightops.ops.ConvChain`).
        """
        return self

    def _chain_of(self, *convs: nn.Module) -> nn.Module:
        """``ConvChain(*convs[, act])`` when the norm is folded and every one of ``convs`` is a plain convolution
        (a depthwise pair merged, a parametrized weight baked); ``self`` otherwise."""
        if not isinstance(self.norm, nn.Identity) or not all(type(c) in _PLAIN_CONVS for c in convs):
            return self
        layers = list(convs) + ([] if isinstance(self.act, nn.Identity) else [self.act])
        return ConvChain(*layers).train(self.training)

    @property
    def freq_kernel(self) -> int:
        """The depthwise frequency kernel ``kf`` of the operator's depthwise pair (3 unless built otherwise)."""
        dw = getattr(self, "dw", None)
        return getattr(dw, "freq_kernel", None) or (dw.kernel_size[0] if isinstance(dw, nn.Conv2d) else 3)

    def extra_repr(self) -> str:
        kf = self.freq_kernel
        return f"{self.in_chs}, {self.out_chs}, stride={self.stride}, dilation={self.dilation}" \
            + (f", freq_kernel={kf}" if kf != 3 else "")
