"""DSSDB in inference form: the same function as a short chain of convolutions (:meth:`DSSDB.inference_form`).

A DSSDB with its norms folded still runs its training-time structure: every Separable Partial Convolution splits
its input on channels, convolves a quarter and concatenates (and, with its norm folded, scales and shifts the rest);
ECA reshapes to a 1-D convolution and back; norms folded to ``nn.Identity`` are still called. In ONNX Runtime that
is a Split, a Concat, a Mul and an Add per operator, shape arithmetic and channel counts (``Cp = C / 4``) that break
ORT's NCHWc blocks into reorders; in eager PyTorch it is a module call each. :class:`DeployDSSDB` computes the same
values with each of its layers in inference form (built before it, children first):

- every operator as ``1x1 -> depthwise kxk [-> 1x1 projection]`` over all its channels (its
  :class:`~lightops.ops.ConvChain`; SPC's is :meth:`~lightops.ops.SeparablePartialConv2d.as_full_width`);
- ECA as ``global average -> 1x1 convolution -> sigmoid -> scale`` (:class:`~lightops.blocks.ChannelGate`);
- no folded-norm ``nn.Identity``, drop-path or input checks left in the forward pass;
- with ``split="haar"``, the half difference of each bin pair folded into the high path's first 1x1 convolution (a
  ``(2, 1)`` convolution with stride ``(2, 1)`` and weights ``W / 2, -W / 2``) and the pair means as one average pool.

``macs(input_size)`` counts its own convolutions, so it equals what the MAC counters measure. Its padding methods
(:meth:`DeployDSSDB.align_taps`, :meth:`DeployDSSDB.pad_output`, :meth:`DeployDSSDB.take_padded_input`) give
:func:`lightops.deploy.align.align_channels` whole channel blocks of ONNX Runtime's NCHWc layout.
Measurements: docs/deploy.md.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from ..ops import bands
from ..ops.conv_chain import ConvChain, chain_macs, conv_macs
from ..ops.padding import pad_chain_out, pad_in, pad_out, widen_inputs, zero_at_zero
from .attention import ChannelGate

__all__ = ["DeployDSSDB"]


def _fold_difference(conv: nn.Conv2d) -> nn.Conv2d:
    """A 1x1 convolution ``W`` applied to half the difference of neighbouring frequency bins, ``W (x[2i] - x[2i+1]) /
    2``, as one ``(2, 1)`` convolution with stride ``(2, 1)`` and weights ``W / 2, -W / 2`` over the bins."""
    if conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
        raise ValueError(f"DeployDSSDB: split='haar' folds its difference into a plain 1x1 convolution, got {conv}")
    new = nn.Conv2d(conv.in_channels, conv.out_channels, (2, 1), stride=(2, 1), bias=conv.bias is not None,
                    device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(torch.cat([conv.weight, -conv.weight], dim=2) * 0.5)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _unfold_difference(conv: nn.Conv2d) -> nn.Conv2d:
    """Inverse of :func:`_fold_difference`: the plain 1x1 convolution ``W`` (exact: ``2 (W / 2)`` in floating point)."""
    new = nn.Conv2d(conv.in_channels, conv.out_channels, 1, bias=conv.bias is not None,
                    device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(conv.weight[:, :, :1] * 2.0)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _child(m: nn.Module, name: str) -> nn.Module:
    """``m.<name>``, or ``nn.Identity`` where fuse removed it from a sequential."""
    return getattr(m, name, None) or nn.Identity()


class DeployDSSDB(nn.Module):
    """A :class:`~lightops.blocks.DSSDB` (eval mode, norms folded) rewritten as a short chain of convolutions.

    Same function, shapes and attributes (``in_chs``, ``out_chs``, ``low_ratio``, ``time_pool``) as the block it is
    built from; ``macs`` counts the convolutions it runs. Built by :meth:`~lightops.blocks.DSSDB.inference_form`.

    Shape:
        ``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))``.
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.in_chs, self.out_chs = block.in_chs, block.out_chs
        self.low_ratio, self.time_pool, self.distill_chs = block.low_ratio, block.time_pool, block.distill_chs
        self.op_name, self.first_residual, self.join = block.op_name, block.first_residual, block.join
        d0, d1, d2 = block.distill
        self.d0, self.d1, self.d2 = d0.conv, d1.conv, d2.conv
        self.distill_act = _child(d0, "act")
        self.op0, self.op1, self.op2 = block.refine
        self.op3 = block.last
        self.merge = block.merge.conv
        # the paper's 1x1 (its norm folded) or a ``high_op`` operator in its inference form
        self.high_op = block.high_op
        self.high = block.high.conv if block.high_op is None else block.high
        self.split = block.split
        self.fold_haar = self.split == "haar"
        if self.fold_haar:  # the pair differences taken by the high path's first convolution
            self.high = self._map_first_conv(self.high, _fold_difference)
        # split="haar": the pair means; a module, so that an int8 export can take it as the depthwise convolution it
        # equals (a module in every block: TorchScript compiles the branch that calls it)
        self.pair_mean = nn.AvgPool2d((2, 1))
        self.attn = block.attn
        self.act = block.act
        self.pool = block.pool
        # ECA's gate scales channels by values in (0, 1): with a ReLU it can come after activation and pooling,
        # on the smaller map, so the activation and the pooling stay next to the convolutions.
        self.gate_last = isinstance(self.attn, ChannelGate) and type(self.act) is nn.ReLU
        self.train(block.training)

    @staticmethod
    def _map_first_conv(high: nn.Module, fn) -> nn.Module:
        """The high path with its first convolution replaced by ``fn(conv)``."""
        if isinstance(high, nn.Conv2d):
            return fn(high)
        return ConvChain(fn(high[0]), *list(high)[1:])

    def unfold_haar(self) -> None:
        """``split="haar"``: take the pair differences as arithmetic (:func:`~lightops.ops.bands.split_haar`) before a
        plain 1x1 again, instead of inside a ``(2, 1)`` convolution with twice its weights: the trained model's own
        weights (the int8 ``memory`` form), at the price of a reshape and slices in the graph. Same values."""
        if not self.fold_haar:
            return
        self.high = self._map_first_conv(self.high, _unfold_difference)
        self.fold_haar = False

    def align_taps(self, align: int) -> None:
        """Pad every distilled tap to a multiple of ``align`` channels that are always 0 (zero weights and bias, an
        activation with act(0) = 0) and give the merge convolution zero weights for them: the same output, and a
        concatenation whose inputs fill whole channel blocks of ONNX Runtime's NCHWc layout (no reorders around it).
        Nothing changes where the last operator is not a conv chain or an activation is not 0 at 0."""
        cd = self.distill_chs
        if (align <= 1 or cd % align == 0 or self.merge.in_channels != 4 * cd or not isinstance(self.op3, ConvChain)
                or not (zero_at_zero(self.distill_act) and zero_at_zero(self.act))):
            return
        width = -(-cd // align) * align
        self.d0, self.d1, self.d2 = (pad_out(c, width) for c in (self.d0, self.d1, self.d2))
        self.op3 = pad_chain_out(self.op3, width)
        self.merge = widen_inputs(self.merge, [(cd, width)] * 4)

    def accepts_padded_input(self) -> bool:
        """Whether every convolution reading the block's input is a plain one (so zero input channels can be
        appended) and no residual adds the input itself."""
        firsts = [self._first_conv(m) for m in (self.op0, self.high)]
        return not self.first_residual and all(isinstance(c, nn.Conv2d) and c.groups == 1 for c in firsts)

    @staticmethod
    def _first_conv(m: nn.Module) -> Optional[nn.Module]:
        """A plain convolution itself, the first layer of a conv chain, None otherwise."""
        if isinstance(m, nn.Conv2d):
            return m
        return m[0] if isinstance(m, ConvChain) and len(m) else None

    def take_padded_input(self, width: int) -> None:
        """Accept an input with ``width`` channels, the ones past ``in_chs`` always 0 (zero weights for them)."""
        self.d0 = pad_in(self.d0, width)
        self.op0 = ConvChain(pad_in(self.op0[0], width), *list(self.op0)[1:])
        self.high = pad_in(self.high, width) if isinstance(self.high, nn.Conv2d) else ConvChain(
            pad_in(self.high[0], width), *list(self.high)[1:])

    def can_pad_output(self) -> bool:
        """Whether the output can carry always-zero extra channels: ECA or no attention, act(0) = 0."""
        return (isinstance(self.attn, (ChannelGate, nn.Identity)) and zero_at_zero(self.act)
                and isinstance(self.high, (nn.Conv2d, ConvChain)))

    def pad_output(self, width: int) -> None:
        """Write ``width`` output channels, the ones past ``out_chs`` always 0."""
        self.merge = pad_out(self.merge, width)
        self.high = pad_out(self.high, width) if isinstance(self.high, nn.Conv2d) else pad_chain_out(self.high, width)
        if isinstance(self.attn, ChannelGate):
            self.attn.pad(width)

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, Fl, ceil(T / time_pool))``."""
        _, f, t = input_size
        return self.out_chs, bands.low_band_bins(f, self.low_ratio), -(-t // self.time_pool)

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs of the convolutions this form runs on an input ``(Cin, F, T)`` (batch 1)."""
        _, f, t = input_size
        fl = bands.low_band_bins(f, self.low_ratio)
        macs = sum(conv_macs(c, fl, t)[0] for c in (self.d0, self.d1, self.d2))
        macs += sum(chain_macs(op, fl, t)[0] for op in (self.op0, self.op1, self.op2, self.op3))
        fh = 2 * (f - fl) if self.fold_haar else f - fl  # folded haar: the high path reads the bin pairs
        high = conv_macs(self.high, fh, t) if isinstance(self.high, nn.Conv2d) else chain_macs(self.high, fh, t)
        macs += conv_macs(self.merge, fl, t)[0] + high[0]
        if hasattr(self.attn, "macs"):
            macs += self.attn.macs((self.out_chs, fl, t))
        return macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))``."""
        if self.split == "haar" and not self.fold_haar:
            low, high = bands.split_haar(x)
            return self.forward_bands(low, high)
        if self.split == "haar":
            f = x.shape[2]
            pairs = x[:, :, : f - f % 2] if f % 2 == 1 else x  # (B, Cin, 2 Fh, T)
            low = self.pair_mean(pairs)  # pair means (B, Cin, Fh, T); the high path takes the differences
            if f % 2 == 1:
                low = torch.cat([low, x[:, :, f - 1:]], dim=2)  # the odd top bin alone
            return self.forward_bands(low, pairs)
        low, high = bands.split_bands(x, self.low_ratio)
        return self.forward_bands(low, high)

    def forward_bands(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """The block on its input already split into the low ``(B, Cin, Fl, T)`` and high band (folded
        ``split="haar"``: the bin pairs ``(B, Cin, 2 Fh, T)``, whose differences its high path takes)."""
        t0 = self.distill_act(self.d0(low))
        r = self.op0(low)
        if self.first_residual:
            r = low + r
        r = self.act(r)
        t1 = self.distill_act(self.d1(r))
        r = self.act(r + self.op1(r))
        t2 = self.distill_act(self.d2(r))
        r = self.act(r + self.op2(r))
        y = self.merge(torch.cat([t0, t1, t2, self.act(self.op3(r))], dim=1))
        if self.split == "haar":
            z = bands.join_haar(y, self.high(high))
        else:
            z = bands.join_bands(y, self.high(high), self.join)
        if self.gate_last:  # relu(z g) = relu(z) g for g > 0, and pooling commutes with a per-channel scale
            return self._pool(self.act(z)) * self.attn.gate(z)
        return self._pool(self.act(self.attn(z)))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """The block's time pooling (none without one: no identity call)."""
        if self.time_pool == 1:
            return x
        return self.pool(x)

    def extra_repr(self) -> str:
        return f"{self.in_chs}, {self.out_chs}, op={self.op_name!r}, low_ratio={self.low_ratio}, " \
               f"time_pool={self.time_pool}" + (f", join={self.join!r}" if self.join != "add" else "") \
               + (f", high_op={self.high_op!r}" if self.high_op is not None else "") \
               + (f", split={self.split!r}" if self.split != "band" else "")
