"""Multi-scale concatenation: every block's output average-pooled to the last block's grid, concatenated on channels.

DSSDN joins its five block outputs (different scales, low and high level; the paper's "multi-scale fusion") this
way before the classifier. The pooling is ``adaptive_avg_pool2d`` to the last output's ``(F, T)``; window ``i`` of
a length-``L`` axis pooled to ``n`` bins is ``[floor(i L / n), ceil((i + 1) L / n))``. PyTorch's ONNX decomposition
of ``adaptive_avg_pool2d`` picks fixed kernels for the length it is traced at, which would be wrong at other
lengths; while a model is being exported (``torch.onnx.export``, ``torch.export``) the same average is computed
from cumulative sums with window bounds derived from the (symbolic) lengths, exact at every length. The module has
no parameters.
"""
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["MultiScaleConcat", "LastScale", "adaptive_avg_exportable", "concat_scales"]


def adaptive_avg_exportable(x: torch.Tensor, dim: int, out_len: int) -> torch.Tensor:
    """``adaptive_avg_pool`` of axis ``dim`` of ``x`` to ``out_len`` bins, from cumulative sums.

    The window bounds are tensors computed from the (symbolic) lengths, so an exported graph is right at every
    length. Equal to PyTorch's adaptive average up to float rounding.

    The bounds are computed in float64: exporters lower an integer floor division to a float32 one, which rounds
    ``i * length`` once it passes 2^24 (an ONNX graph then indexed past the end from about 32,000 frames on). In
    float64 the products are exact and the quotients round to the right integer for any length an input can have.
    """
    length = x.shape[dim]
    i = torch.arange(out_len, device=x.device, dtype=torch.float64)
    start = torch.floor(i * length / out_len).to(torch.int64)  # floor(i L / n)
    end = torch.ceil((i + 1) * length / out_len).to(torch.int64)  # ceil((i + 1) L / n)
    csum = torch.cumsum(x, dim=dim)
    csum = torch.cat([torch.zeros_like(csum.narrow(dim, 0, 1)), csum], dim=dim)  # [..., j] = sum of the first j
    total = csum.index_select(dim, end) - csum.index_select(dim, start)  # out_len bins along dim
    shape = [1] * x.dim()
    shape[dim] = -1
    return total / (end - start).to(x.dtype).reshape(shape)


@torch.jit.unused
def _exporting() -> bool:
    """Whether a model is being exported (ONNX or torch.export); never reached from TorchScript."""
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


@torch.fx.wrap
def concat_scales(feats: List[torch.Tensor]) -> torch.Tensor:
    """Average-pool every tensor of ``feats`` to the last one's ``(F, T)`` grid and concatenate on channels.

    Shape:
        ``[(B, C_i, F_i, T_i)] -> (B, sum C_i, F_last, T_last)``.
    """
    last = feats[-1]
    if not torch.jit.is_scripting() and _exporting():
        pooled = [adaptive_avg_exportable(adaptive_avg_exportable(f, 2, last.shape[2]), 3, last.shape[3])
                  for f in feats[:-1]]
    else:
        grid = [last.shape[2], last.shape[3]]
        pooled = [F.adaptive_avg_pool2d(f, grid) for f in feats[:-1]]
    return torch.cat(pooled + [last], dim=1)


class MultiScaleConcat(nn.Module):
    """:func:`concat_scales` as a module (the last stage of :class:`~lightops.models.DSSDN`'s features).

    Shape:
        ``[(B, C_i, F_i, T_i)] -> (B, sum C_i, F_last, T_last)``.
    """

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Pool to the last grid and concatenate."""
        return concat_scales(feats)


class LastScale(nn.Module):
    """The last block's output alone (a DSSDN without multi-scale concatenation, ``DSSDNCfg.scales="last"``).

    Shape:
        ``[(B, C_i, F_i, T_i)] -> (B, C_last, F_last, T_last)``.
    """

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """The last tensor of ``feats``."""
        return feats[-1]
