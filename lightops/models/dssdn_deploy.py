"""DSSDN in inference form: timm's head without its inference no-ops, and the exported model (:class:`DeployDSSDN`).

:meth:`lightops.models.DSSDN.inference_form` swaps the classifier head for :class:`PlainHead`;
:meth:`lightops.models.DSSDN.export_form` builds :class:`DeployDSSDN` for one input size, the form
:func:`lightops.deploy.export_onnx` writes: the multi-scale pooling as constant weights (:func:`adaptive_mean_weights`),
the stem's bands handed straight to the first block. Measurements: docs/deploy.md.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import ClassifierHead

from ..blocks import DeployDSSDB, MultiScaleConcat, global_mean
from ..blocks.multi_scale import adaptive_avg_exportable
from ..ops import bands
from ..ops.conv_chain import merge_pools
from ..stems import HighLowStem

__all__ = ["PlainHead", "DeployDSSDN", "adaptive_mean_weights"]


class PlainHead(nn.Module):
    """timm's ``ClassifierHead`` without the calls that do nothing at inference (dropout, an identity flatten):
    global pooling, then the classifier. Same ``fc``, same ``forward(x, pre_logits=False)``."""

    def __init__(self, head: ClassifierHead) -> None:
        super().__init__()
        self.global_pool, self.fc = head.global_pool, head.fc

    @staticmethod
    def convertible(head: nn.Module) -> bool:
        """An eval-mode ``ClassifierHead`` whose dropout and flatten are ``nn.Identity`` (``fuse`` removes dropout)."""
        return (isinstance(head, ClassifierHead) and not head.training and isinstance(head.drop, nn.Identity)
                and isinstance(head.flatten, nn.Identity) and not head.use_conv)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, C, F, T) -> (B, num_classes)``, or the pooled features ``(B, C)`` with ``pre_logits``."""
        x = self.global_pool(x)
        return x if pre_logits else self.fc(x)


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
    """A DSSDN in inference form as exported: multi-scale concatenation and global average pooling as one weighted
    sum per block output, and the high/low stem handing its two bands straight to the first block.

    DSSDN average-pools every block output to the last block's ``(F5, T5)`` grid, concatenates and takes the global
    mean: per block, a weighted sum over its map, separable in frequency and time (:func:`adaptive_mean_weights`).
    The frequency axis is fixed in an exported graph, so its weights are constants; with ``fixed_length`` the time
    weights are too, and each block's pooling is one ``MatMul`` with a constant vector. Otherwise the frequency sum is
    a depthwise ``(F_i, 1)`` convolution and only the time axis, already reduced to one row, keeps the cumulative-sum
    form that is exact at every length (:func:`lightops.blocks.multi_scale.adaptive_avg_exportable`), instead of
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
        norm = getattr(model, "input_norm", None)
        self.input_norm = None if norm is None or isinstance(norm, nn.Identity) else norm  # no Identity node
        self.stem, self.blocks, self.fc = model.stem, model.blocks, model.head.fc
        self.in_chans, self.num_classes = model.in_chans, model.num_classes
        ref = model.head.fc.weight
        for i, ((_, f, t), blk) in enumerate(zip(sizes[1:], model.blocks)):
            if self.fixed_length:
                w = torch.outer(adaptive_mean_weights(f, f_last), adaptive_mean_weights(t, t_last)).reshape(-1)
                # (F_i T_i, 1): ONNX Runtime's MatMul with a 1-D right operand takes a path many times slower
                self.register_buffer(f"pool{i}", w.to(device=ref.device, dtype=ref.dtype)[:, None])
            elif i < len(sizes) - 2:
                c = blk.merge.out_channels if isinstance(blk, DeployDSSDB) else blk.out_chs
                w = adaptive_mean_weights(f, f_last).to(device=ref.device, dtype=ref.dtype)
                self.register_buffer(f"pool{i}", w.reshape(1, 1, f, 1).expand(c, 1, f, 1).contiguous())
        # a block output with no time pooling after it has the last block's frames: its time mean is plain
        self.same_length = [all(getattr(b, "time_pool", 0) == 1 for b in list(model.blocks)[i + 1:])
                            for i in range(len(model.blocks))]
        self.split_stem = self._bands_meet(model.stem, model.blocks[0], self.input_size, sizes[0])
        if self.fixed_length and isinstance(self.stem, HighLowStem):  # the high band's size is known
            f = self.input_size[1]
            merge_pools(self.stem.high, (f - bands.low_band_bins(f, self.stem.low_ratio), self.input_size[2]))

    @staticmethod
    def _bands_meet(stem: nn.Module, block: nn.Module, input_size: Tuple[int, int, int],
                    stem_out: Tuple[int, int, int]) -> bool:
        """Whether the high/low stem's low-band output is exactly the first block's low band."""
        if not (isinstance(stem, HighLowStem) and isinstance(block, DeployDSSDB)) or block.split != "band":
            return False
        low_in = bands.low_band_bins(input_size[1], stem.low_ratio)
        low_out = stem.low(torch.zeros(1, stem.in_chs, low_in, 2 * stem.stride)).shape[2]
        return low_out == bands.low_band_bins(stem_out[1], block.low_ratio)

    @staticmethod
    def convertible(model: nn.Module) -> bool:
        """A DSSDN-like model (stem, blocks, ``stage_sizes``) with multi-scale concatenation, whose head is timm's
        average-pool classifier."""
        head = getattr(model, "head", None)
        pool = getattr(head, "global_pool", None)
        return (hasattr(model, "stage_sizes") and hasattr(model, "blocks") and hasattr(model, "stem")
                and isinstance(getattr(model, "scales", None), MultiScaleConcat)
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
        if self.input_norm is not None:
            x = self.input_norm(x)
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
