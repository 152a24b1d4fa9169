"""The deployment form of DSSDB and DSSDN: the same function as a short chain of convolutions.

A fused :class:`~lightops.blocks.DSSDB` still runs its training-time structure: every Separable Partial Convolution
splits its input on channels, convolves a quarter and concatenates (and, with its norm folded, scales and shifts the
rest); ECA reshapes to a 1-D convolution and back; norms folded to ``nn.Identity`` are still called. In ONNX Runtime
that is a Split, a Concat, a Mul and an Add per operator, shape arithmetic and channel counts (``Cp = C / 4``) that
break ORT's NCHWc blocks into reorders; in eager PyTorch it is a module call each. :class:`DeployDSSDB` computes the
same values with:

- every operator as ``1x1 -> depthwise kxk [-> 1x1 projection]`` over all its channels (:func:`conv_chain`): for
  SPC the 1x1 is block-diagonal ``[[W_p, 0], [0, I]]`` and the depthwise kernel of a passed-through channel is its
  centre tap alone (the folded norm's scale, the shift as bias, the stride decimating as SPC's slice does); exact,
  at ``(Cin^2 - Cp^2) F T + k^2 (Cin - Cp) F' T'`` more MACs than the partial form, traded for no Split, Concat,
  Mul or Add and channel counts that are the block's;
- ECA as ``global average -> 1x1 convolution -> sigmoid -> scale`` (:class:`ChannelGate`): the 1-D convolution
  across channels with zero padding is a banded ``C x C`` matrix;
- no folded-norm ``nn.Identity``, drop-path or input checks left in the forward pass.

:func:`deploy_blocks` swaps every fused DSSDB of a model for its deployment form and timm's head for
:class:`PlainHead` (:func:`lightops.deploy.fuse` does it by default, ``deploy_blocks=False`` keeps them).
``macs(input_size)`` of the deployment form counts its own convolutions, so it equals what the MAC counters measure
on the fused model. :func:`align_widths` pads channel counts to whole blocks of ONNX Runtime's NCHWc layout
(``fuse(channel_align=16)``, what the export uses), and :class:`DeployDSSDN` is the exported model: the multi-scale
pooling as constant weights (:func:`adaptive_mean_weights`), the stem's bands handed straight to the first block.
Measurements: docs/deploy.md.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import ClassifierHead

from ..blocks import DSSDB
from ..blocks.attention import ECA
from ..blocks.scale_fusion import adaptive_avg_exportable
from ..ops import DepthwiseConv3x3, OrthoSeparableConv2d, SeparableConv2d, SeparablePartialConv2d, bands
from ..ops.fusion import build_like
from ..stems import HighLowStem

__all__ = ["DeployDSSDB", "ChannelGate", "DeployDSSDN", "PlainHead", "adaptive_mean_weights", "conv_chain",
           "deploy_blocks", "global_mean", "partial_as_full", "pool_into_conv", "align_widths"]


def _is_identity(m: nn.Module) -> bool:
    return isinstance(m, nn.Identity)


def _child(m: nn.Module, name: str) -> nn.Module:
    """``m.<name>``, or ``nn.Identity`` where fuse removed it from a sequential."""
    return getattr(m, name, None) or nn.Identity()


def _conv_macs(conv: nn.Conv2d, f: int, t: int) -> Tuple[int, int, int]:
    """MACs of ``conv`` on an ``F x T`` input at batch 1, and its output ``(F', T')``."""
    fo = (f + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1) // conv.stride[0] + 1
    to = (t + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1) // conv.stride[1] + 1
    per_out = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    return conv.out_channels * per_out * fo * to, fo, to


def chain_macs(chain: nn.Module, f: int, t: int) -> Tuple[int, int, int]:
    """MACs of the convolutions of ``chain`` (in order) on an ``F x T`` input, and the output ``(F', T')``."""
    macs = 0
    for m in chain.modules():
        if isinstance(m, nn.Conv2d):
            n, f, t = _conv_macs(m, f, t)
            macs += n
    return macs, f, t


def partial_as_full(spc: SeparablePartialConv2d) -> Optional[nn.Sequential]:
    """A fused SPC as its full-width chain (:meth:`~lightops.ops.SeparablePartialConv2d.as_full_width`); None when
    it is not in fused form (a norm left, or a depthwise pair not merged into one kxk kernel)."""
    sc = spc.sc
    if not (_is_identity(spc.norm) and _is_identity(sc.norm) and _is_identity(sc.act)
            and isinstance(sc.dw, DepthwiseConv3x3) and isinstance(sc.pw, nn.Conv2d)):
        return None
    return spc.as_full_width()


def conv_chain(op: nn.Module) -> Optional[nn.Sequential]:
    """A fused operator as a plain ``nn.Sequential`` of its convolutions (and its activation, if any).

    SC: ``1x1 -> depthwise``; OSC: ``reduce -> expand -> depthwise`` (or one 1x1 when merged into an SC); SPC:
    :func:`partial_as_full`. None for an operator not in fused form (a norm left) or of another kind: the caller
    keeps the module.
    """
    if not _is_identity(getattr(op, "norm", nn.Identity())):
        return None
    if isinstance(op, SeparablePartialConv2d):
        return partial_as_full(op)
    if isinstance(op, SeparableConv2d):
        layers = [op.pw, op.dw]
    elif isinstance(op, OrthoSeparableConv2d) and isinstance(op.reduce, nn.Conv2d):
        layers = [op.reduce, op.expand, op.dw]
    else:
        return None
    if not _is_identity(op.act):
        layers.append(op.act)
    return nn.Sequential(*layers)


class ChannelGate(nn.Module):
    """ECA in deployment form: ``x * sigmoid(W mean(x))`` with ``W`` the banded ``C x C`` matrix of ECA's 1-D
    convolution across channels (zero padding), as one 1x1 convolution on the global average.

    Shape: ``(B, C, F, T) -> (B, C, F, T)``.
    Params: ``C^2`` (``k`` non-zero per row). MACs: ``C^2``.
    """

    def __init__(self, eca: ECA) -> None:
        super().__init__()
        c, w = eca.chs, eca.conv.weight.detach().reshape(-1)  # (k,)
        k, pad = w.numel(), eca.conv.padding[0]
        self.chs = c
        self.conv = build_like(lambda: nn.Conv2d(c, c, 1, bias=False), eca.conv.weight)
        with torch.no_grad():
            band = torch.zeros(c, c, dtype=w.dtype, device=w.device)
            i = torch.arange(c, device=w.device)
            for j in range(k):  # out[i] = sum_j w[j] in[i + j - pad], zero outside [0, C)
                src = i + j - pad
                ok = (src >= 0) & (src < c)
                band[i[ok], src[ok]] += w[j]
            self.conv.weight.copy_(band[:, :, None, None])

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``C^2`` (of the padded width after :meth:`pad`)."""
        return self.conv.in_channels * self.conv.out_channels

    def pad(self, width: int) -> None:
        """Gate ``width`` channels: zero weights to and from the channels past ``chs`` (their input is always 0)."""
        self.conv = _pad_in(_pad_out(self.conv, width), width)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(W mean(x))``: ``(B, C, F, T) -> (B, C, 1, 1)``, every value in (0, 1)."""
        return torch.sigmoid(self.conv(global_mean(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, C, F, T)``."""
        return x * self.gate(x)


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over ``(F, T)``, kept as ``(B, C, 1, 1)`` (exported as a ``ReduceMean``, which
    :func:`lightops.deploy.export.optimize_onnx_graph` turns into a ``GlobalAveragePool``)."""
    return x.mean((2, 3), keepdim=True)


class DeployDSSDB(nn.Module):
    """A fused :class:`~lightops.blocks.DSSDB` rewritten as a short chain of convolutions (module docstring).

    Same function, shapes and attributes (``in_chs``, ``out_chs``, ``low_ratio``, ``time_pool``) as the block it is
    built from; ``macs`` counts the convolutions it runs.

    Shape:
        ``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))``.
    """

    def __init__(self, block: DSSDB, align: int = 1) -> None:
        super().__init__()
        self.in_chs, self.out_chs = block.in_chs, block.out_chs
        self.low_ratio, self.time_pool, self.distill_chs = block.low_ratio, block.time_pool, block.distill_chs
        self.op_name, self.first_residual = block.op_name, block.first_residual
        d0, d1, d2 = block.distill
        self.d0, self.d1, self.d2 = d0.conv, d1.conv, d2.conv
        self.distill_act = _child(d0, "act")
        self.op0, self.op1, self.op2 = (conv_chain(op) or op for op in block.refine)
        self.op3 = conv_chain(block.last) or block.last
        self.fuse = block.fuse.conv
        self.high = block.high.conv
        self.attn = ChannelGate(block.attn) if isinstance(block.attn, ECA) else block.attn
        self.act = block.act
        self.pool = block.pool
        # ECA's gate scales channels by values in (0, 1): with a ReLU it can come after activation and pooling,
        # on the smaller map, so the activation and the pooling stay next to the convolutions.
        self.gate_last = isinstance(self.attn, ChannelGate) and type(self.act) is nn.ReLU
        if (align > 1 and self.distill_chs % align and isinstance(self.op3, nn.Sequential)
                and _zero_at_zero(self.distill_act) and _zero_at_zero(self.act)):
            self._align_taps(-(-self.distill_chs // align) * align)
        self.train(block.training)

    def _align_taps(self, width: int) -> None:
        """Pad every distilled tap to ``width`` channels that are always 0 (zero weights and bias, an activation
        with act(0) = 0), and give the fuse convolution zero weights for them: the same output, and a concatenation
        whose inputs fill whole channel blocks of ONNX Runtime's NCHWc layout (no reorders around it)."""
        cd = self.distill_chs
        self.d0, self.d1, self.d2 = (_pad_out(c, width) for c in (self.d0, self.d1, self.d2))
        self.op3 = _pad_chain_out(self.op3, width)
        self.fuse = _widen_inputs(self.fuse, [(cd, width)] * 4)

    def accepts_padded_input(self) -> bool:
        """Whether every convolution reading the block's input is a plain one (so zero input channels can be
        appended) and no residual adds the input itself."""
        first = self.op0[0] if isinstance(self.op0, nn.Sequential) and len(self.op0) else None
        return not self.first_residual and isinstance(first, nn.Conv2d) and first.groups == 1

    def take_padded_input(self, width: int) -> None:
        """Accept an input with ``width`` channels, the ones past ``in_chs`` always 0 (zero weights for them)."""
        self.d0, self.high = _pad_in(self.d0, width), _pad_in(self.high, width)
        self.op0 = nn.Sequential(_pad_in(self.op0[0], width), *list(self.op0)[1:])

    def can_pad_output(self) -> bool:
        """Whether the output can carry always-zero extra channels: ECA or no attention, act(0) = 0."""
        return isinstance(self.attn, (ChannelGate, nn.Identity)) and _zero_at_zero(self.act)

    def pad_output(self, width: int) -> None:
        """Write ``width`` output channels, the ones past ``out_chs`` always 0."""
        self.fuse, self.high = _pad_out(self.fuse, width), _pad_out(self.high, width)
        if isinstance(self.attn, ChannelGate):
            self.attn.pad(width)

    @staticmethod
    def convertible(block: nn.Module) -> bool:
        """A DSSDB whose pointwise norms are folded (``fuse(fold_bn=True)``) and that runs in eval mode."""
        if not isinstance(block, DSSDB) or block.training:
            return False
        pnas = (*block.distill, block.fuse, block.high)
        return all(_is_identity(_child(p, "bn")) for p in pnas) \
            and _is_identity(_child(block.fuse, "act")) and _is_identity(_child(block.high, "act"))

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, Fl, ceil(T / time_pool))``."""
        _, f, t = input_size
        return self.out_chs, bands.low_band_bins(f, self.low_ratio), -(-t // self.time_pool)

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs of the convolutions this form runs on an input ``(Cin, F, T)`` (batch 1)."""
        _, f, t = input_size
        fl = bands.low_band_bins(f, self.low_ratio)
        macs = sum(_conv_macs(c, fl, t)[0] for c in (self.d0, self.d1, self.d2))
        macs += sum(chain_macs(op, fl, t)[0] for op in (self.op0, self.op1, self.op2, self.op3))
        macs += _conv_macs(self.fuse, fl, t)[0] + _conv_macs(self.high, f - fl, t)[0]
        if hasattr(self.attn, "macs"):
            macs += self.attn.macs((self.out_chs, fl, t))
        return macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, F, T) -> (B, C, Fl, ceil(T / time_pool))``."""
        low, high = bands.split_bands(x, self.low_ratio)
        return self.forward_bands(low, high)

    def forward_bands(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """The block on its input already split into the low ``(B, Cin, Fl, T)`` and high band."""
        t0 = self.distill_act(self.d0(low))
        r = self.op0(low)
        if self.first_residual:
            r = low + r
        r = self.act(r)
        t1 = self.distill_act(self.d1(r))
        r = self.act(r + self.op1(r))
        t2 = self.distill_act(self.d2(r))
        r = self.act(r + self.op2(r))
        y = self.fuse(torch.cat([t0, t1, t2, self.act(self.op3(r))], dim=1))
        z = y + bands.match_bins(self.high(high), y.shape[2])
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
               f"time_pool={self.time_pool}"


def _zero_at_zero(act: nn.Module) -> bool:
    """Whether ``act(0) == 0`` (ReLU, GELU, SiLU, identity: padded channels stay 0)."""
    with torch.no_grad():
        return bool(act(torch.zeros(1)).eq(0).all())


def _pad_out(conv: nn.Conv2d, width: int, depthwise: bool = False) -> nn.Conv2d:
    """``conv`` with ``width`` output channels, the extra ones with zero weights and bias (``depthwise``: its
    input channels and groups grow with them)."""
    n = conv.out_channels
    cin, groups = (width, width) if depthwise else (conv.in_channels, conv.groups)
    new = build_like(lambda: nn.Conv2d(cin, width, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                                       dilation=conv.dilation, groups=groups, bias=conv.bias is not None),
                     conv.weight)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:n] = conv.weight
        if new.bias is not None:
            new.bias.zero_()
            new.bias[:n] = conv.bias
    return new


def _widen_inputs(layer: nn.Module, groups: List[Tuple[int, int]]) -> nn.Module:
    """A plain (``groups=1``) convolution or linear layer whose input channels are spread out: ``groups`` lists
    ``(real, padded)`` channel counts in input order; the ``padded - real`` channels after each group get zero
    weights (their input is always 0). Same outputs on the padded input."""
    total = sum(cp for _, cp in groups)
    if isinstance(layer, nn.Linear):
        new = build_like(lambda: nn.Linear(total, layer.out_features, bias=layer.bias is not None), layer.weight)
    else:
        new = build_like(lambda: nn.Conv2d(total, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                           padding=layer.padding, dilation=layer.dilation,
                                           bias=layer.bias is not None), layer.weight)
    with torch.no_grad():
        new.weight.zero_()
        src = dst = 0
        for c, cp in groups:
            new.weight[:, dst: dst + c] = layer.weight[:, src: src + c]
            src, dst = src + c, dst + cp
        if new.bias is not None:
            new.bias.copy_(layer.bias)
    return new


def _pad_in(conv: nn.Conv2d, width: int) -> nn.Conv2d:
    """A plain (``groups=1``) ``conv`` reading ``width`` input channels, zero weights for the ones it did not have."""
    return _widen_inputs(conv, [(conv.in_channels, width)])


def _stem_outputs(stem: nn.Module) -> Optional[List[Tuple[nn.Sequential, int]]]:
    """``(sequential, index)`` of each convolution that writes the stem's output (HighLowStem's two bands,
    ConvStem's and CutStem's one), when only activations with act(0) = 0 follow it; None otherwise."""
    found = []
    for name in ("low", "high", "conv"):
        seq = getattr(stem, name, None)
        if not isinstance(seq, nn.Sequential):
            continue
        layers = list(seq)
        convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
        if not convs or layers[convs[-1]].groups != 1 or not all(_zero_at_zero(m) for m in layers[convs[-1] + 1:]):
            return None
        found.append((seq, convs[-1]))
    return found or None


def align_widths(model: nn.Module, align: int) -> None:
    """Pad the stem's and every block's output of a fused DSSDN to a multiple of ``align`` channels, in place.

    The extra channels are always 0 (zero weights and biases, activations with act(0) = 0, ECA's gate times 0), the
    convolutions that read them get zero weights, and so does the classifier: the logits are unchanged. ONNX
    Runtime runs pooling and concatenation in its blocked NCHWc layout only for channel counts that fill whole
    blocks (16 floats with AVX-512); otherwise it reorders the tensor out and runs a plain NCHW kernel, many times
    slower. A block is left unpadded where its successor adds its input as a residual or reads it through an
    operator that is not a plain convolution chain.
    """
    blocks = list(getattr(model, "blocks", []))
    head = getattr(model, "head", None)
    fc = getattr(head, "fc", None)
    if (not blocks or not all(isinstance(b, DeployDSSDB) for b in blocks) or not isinstance(fc, nn.Linear)
            or fc.in_features != sum(b.out_chs for b in blocks)):  # the head must read the concatenated outputs
        return
    width = lambda c: -(-c // align) * align  # noqa: E731
    stem = _stem_outputs(model.stem)
    c0 = blocks[0].in_chs
    if stem is not None and width(c0) != c0 and blocks[0].accepts_padded_input():
        for seq, i in stem:
            seq[i] = _pad_out(seq[i], width(c0))
        blocks[0].take_padded_input(width(c0))
    layout = []  # (real, padded) channels of every block output, in the order the head concatenates them
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
        head.fc = _widen_inputs(fc, layout)


def _pad_chain_out(chain: nn.Module, width: int) -> nn.Module:
    """A conv chain (:func:`conv_chain`) whose output has ``width`` channels, the extra ones 0 before the
    activation: the last convolution padded, and the ones before it while they are depthwise."""
    if not isinstance(chain, nn.Sequential):
        return chain
    layers = list(chain)
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)]
    for j, i in enumerate(reversed(convs)):
        conv = layers[i]
        depthwise = conv.groups == conv.in_channels == conv.out_channels and j + 1 < len(convs)
        layers[i] = _pad_out(conv, width, depthwise)
        if not depthwise:
            break
    return nn.Sequential(*layers)


def pool_into_conv(pool: nn.Module, conv: nn.Module, size: Optional[Tuple[int, int]] = None
                   ) -> Optional[nn.Conv2d]:
    """``AvgPool2d(k, stride k)`` followed by a 1x1 convolution as one ``k x k`` convolution with stride ``k`` and
    weights ``W / k^2``: the same windows, one node instead of two. A ``ceil_mode`` pool qualifies only for an input
    ``size`` ``(F, T)`` it divides (no partial window). None if not such a pair.
    """
    if not (isinstance(pool, nn.AvgPool2d) and isinstance(conv, nn.Conv2d)):
        return None
    k, stride = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
    whole = size is not None and size[0] % k[0] == 0 and size[1] % k[1] == 0
    if (k != stride or _pair(pool.padding) != (0, 0) or (pool.ceil_mode and not whole)
            or pool.divisor_override is not None
            or conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.groups != 1 or conv.padding != (0, 0)):
        return None
    new = build_like(lambda: nn.Conv2d(conv.in_channels, conv.out_channels, k, stride=k, bias=conv.bias is not None),
                     conv.weight)
    with torch.no_grad():
        new.weight.copy_(conv.weight.expand(-1, -1, *k) / (k[0] * k[1]))
        if new.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _pair(v) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _merge_pools(model: nn.Module, size: Optional[Tuple[int, int]] = None) -> None:
    """:func:`pool_into_conv` on every adjacent (pool, 1x1 conv) pair of every ``nn.Sequential``, in place
    (``size``: the input ``(F, T)`` of every such pair, when known)."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        items = list(seq.named_children())
        for (name_a, a), (name_b, b) in zip(items, items[1:]):
            merged = pool_into_conv(a, b, size)
            if merged is not None and name_a in seq._modules:
                del seq._modules[name_a]
                setattr(seq, name_b, merged)


class PlainHead(nn.Module):
    """timm's ``ClassifierHead`` without the calls that do nothing at inference (dropout, an identity flatten):
    global pooling, then the classifier. Same ``fc``, same ``forward(x, pre_logits=False)``."""

    def __init__(self, head: ClassifierHead) -> None:
        super().__init__()
        self.global_pool, self.fc = head.global_pool, head.fc

    @staticmethod
    def convertible(head: nn.Module) -> bool:
        """A ``ClassifierHead`` whose dropout and flatten are ``nn.Identity`` (``fuse`` removes dropout)."""
        return (isinstance(head, ClassifierHead) and isinstance(head.drop, nn.Identity)
                and isinstance(head.flatten, nn.Identity) and not head.use_conv)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, C, F, T) -> (B, num_classes)``, or the pooled features ``(B, C)`` with ``pre_logits``."""
        x = self.global_pool(x)
        return x if pre_logits else self.fc(x)


def deploy_blocks(model: nn.Module, align: int = 1) -> nn.Module:
    """Replace every convertible DSSDB of ``model`` (fused, eval mode) by its :class:`DeployDSSDB`, in place.

    Args:
        model: a fused model, block or container.
        align: pad the distilled taps to a multiple of this many channels (16: ONNX Runtime's NCHWc block on
            AVX-512, a multiple of AVX2's 8); 1 keeps them.

    Returns:
        ``model`` (a :class:`DeployDSSDB` when ``model`` itself is a convertible DSSDB).
    """
    _merge_pools(model)
    if DeployDSSDB.convertible(model):
        return DeployDSSDB(model, align)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if DeployDSSDB.convertible(child):
                setattr(parent, name, DeployDSSDB(child, align))
            elif PlainHead.convertible(child) and not child.training:
                setattr(parent, name, PlainHead(child))
    return model


def adaptive_mean_weights(length: int, bins: int) -> torch.Tensor:
    """Weights ``w`` (float64, length ``length``) with ``mean(adaptive_avg_pool1d(x, bins)) = sum(w * x)``.

    Window ``j`` is ``[floor(j L / n), ceil((j + 1) L / n))``, so ``w[t] = (1 / n) sum_{j: t in window j} 1 / len_j``.
    """
    w = torch.zeros(length, dtype=torch.float64)
    for j in range(bins):
        start, end = (j * length) // bins, -(-((j + 1) * length) // bins)
        w[start:end] += 1.0 / ((end - start) * bins)
    return w


class DeployDSSDN(nn.Module):
    """A fused DSSDN as exported: multi-scale fusion and global average pooling as one weighted sum per block
    output, and the high/low stem handing its two bands straight to the first block.

    DSSDN average-pools every block output to the last block's ``(F5, T5)`` grid, concatenates and takes the global
    mean: per block, a weighted sum over its map, separable in frequency and time (:func:`adaptive_mean_weights`).
    The frequency axis is fixed in an exported graph, so its weights are constants; with ``fixed_length`` the time
    weights are too, and each block's pooling is one ``MatMul`` with a constant vector. Otherwise the frequency sum is
    a depthwise ``(F_i, 1)`` convolution and only the time axis, already reduced to one row, keeps the cumulative-sum
    form that is exact at every length (:func:`lightops.blocks.scale_fusion.adaptive_avg_exportable`), instead of
    pooling whole maps that way. When the stem's low band has exactly the first block's low-band bins, the stem's
    concatenation on frequency and the block's split undo each other and are skipped; with ``fixed_length`` the
    stem's pooling and 1x1 become one strided convolution where the length divides. Same logits; inputs of other
    ``(C, F)`` (or another ``T`` with ``fixed_length``) are refused.

    Shape: ``(B, C, F, T) -> (B, num_classes)``.
    """

    def __init__(self, model: nn.Module, input_size: Tuple[int, int, int], fixed_length: bool = True) -> None:
        super().__init__()
        if not self.convertible(model):
            raise ValueError("DeployDSSDN: needs a DSSDN with a classifier on the global average (pool 'avg')")
        self.input_size = tuple(int(v) for v in input_size)
        self.fixed_length = bool(fixed_length)
        sizes = model.stage_sizes(self.input_size)  # the stem's output, then every block's (C, F, T)
        _, f_last, t_last = sizes[-1]
        self.stem, self.blocks, self.fc = model.stem, model.blocks, model.head.fc
        self.in_chans, self.num_classes = model.in_chans, model.num_classes
        ref = model.head.fc.weight
        for i, ((_, f, t), blk) in enumerate(zip(sizes[1:], model.blocks)):
            if self.fixed_length:
                w = torch.outer(adaptive_mean_weights(f, f_last), adaptive_mean_weights(t, t_last)).reshape(-1)
                # (F_i T_i, 1): ONNX Runtime's MatMul with a 1-D right operand takes a path many times slower
                self.register_buffer(f"pool{i}", w.to(device=ref.device, dtype=ref.dtype)[:, None])
            elif i < len(sizes) - 2:
                c = blk.fuse.out_channels if isinstance(blk, DeployDSSDB) else blk.out_chs
                w = adaptive_mean_weights(f, f_last).to(device=ref.device, dtype=ref.dtype)
                self.register_buffer(f"pool{i}", w.reshape(1, 1, f, 1).expand(c, 1, f, 1).contiguous())
        # a block output with no time pooling after it has the last block's frames: its time mean is plain
        self.same_length = [all(getattr(b, "time_pool", 0) == 1 for b in list(model.blocks)[i + 1:])
                            for i in range(len(model.blocks))]
        self.split_stem = self._bands_meet(model.stem, model.blocks[0], self.input_size, sizes[0])
        if self.fixed_length and isinstance(self.stem, HighLowStem):  # the high band's size is known
            f = self.input_size[1]
            _merge_pools(self.stem.high, (f - bands.low_band_bins(f, self.stem.low_ratio), self.input_size[2]))

    @staticmethod
    def _bands_meet(stem: nn.Module, block: nn.Module, input_size: Tuple[int, int, int],
                    stem_out: Tuple[int, int, int]) -> bool:
        """Whether the high/low stem's low-band output is exactly the first block's low band."""
        if not (isinstance(stem, HighLowStem) and isinstance(block, DeployDSSDB)):
            return False
        low_in = bands.low_band_bins(input_size[1], stem.low_ratio)
        low_out = stem.low(torch.zeros(1, stem.in_chs, low_in, 2 * stem.stride)).shape[2]
        return low_out == bands.low_band_bins(stem_out[1], block.low_ratio)

    @staticmethod
    def convertible(model: nn.Module) -> bool:
        """A DSSDN-like model (stem, blocks, ``stage_sizes``) whose head is timm's average-pool classifier."""
        head = getattr(model, "head", None)
        pool = getattr(head, "global_pool", None)
        return (hasattr(model, "stage_sizes") and hasattr(model, "blocks") and hasattr(model, "stem")
                and getattr(pool, "pool_type", None) == "avg" and isinstance(getattr(head, "fc", None), nn.Linear)
                and not getattr(head, "use_conv", False))

    def _check(self, x: torch.Tensor) -> None:
        n = 3 if self.fixed_length else 2
        if x.dim() != 4 or tuple(x.shape[1:1 + n]) != self.input_size[:n]:
            what = "(C, F, T)" if self.fixed_length else "(C, F)"
            raise ValueError(f"DeployDSSDN: built for inputs (B, C, F, T) with {what} = {self.input_size[:n]}, "
                             f"got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, T) -> (B, num_classes)``."""
        self._check(x)
        blocks = list(self.blocks)
        if self.split_stem:
            low, high = bands.split_bands(x, self.stem.low_ratio)
            x = blocks[0].forward_bands(self.stem.low(low), self.stem.high(high))
        else:
            x = blocks[0](self.stem(x))
        feats = [x]
        for blk in blocks[1:]:
            x = blk(x)
            feats.append(x)
        if self.fixed_length:
            pooled = [f.flatten(2) @ getattr(self, f"pool{i}") for i, f in enumerate(feats)]  # (B, C_i, 1)
        else:
            t_last = x.shape[3]
            pooled = []
            for i, f in enumerate(feats[:-1]):
                rows = F.conv2d(f, getattr(self, f"pool{i}"), groups=f.shape[1])  # (B, C_i, 1, T_i)
                if not self.same_length[i]:
                    rows = adaptive_avg_exportable(rows, 3, t_last)  # (B, C_i, 1, T_last)
                pooled.append(rows.mean(3))  # (B, C_i, 1)
            pooled.append(global_mean(x).flatten(2))
        return self.fc(torch.cat(pooled, dim=1).flatten(1))
