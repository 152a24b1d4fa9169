"""CP-Mobile as the DCASE 2024/2025 Task 1 baseline: the field's reference model for low-complexity ASC.

Baseline: "DCASE 2025 Task 1: Low-Complexity Acoustic Scene Classification with Device Information", the organisers'
simplified CP-Mobile (Schmid et al., "CP-JKU submission to DCASE 2023: efficient acoustic scene classification with
CP-Mobile"; baseline code https://github.com/CPJKU/dcase2025_task1_baseline). Written here from its public
description; on its own input, a 1-s clip at 32 kHz with hop 500 and 256 mel bins, ``(1, 256, 65)``::

    stem    conv 3x3 /2, base/4 channels, BN, ReLU; conv 3x3 /2, base channels, BN, ReLU
    stage 1 3 inverted-bottleneck blocks, base channels              (block 3: stride (1, 2))
    stage 2 2 blocks, base x 1.8 channels, rounded to a multiple of 8 (block 4: stride (2, 1))
    stage 3 1 block, base x 1.8^2 channels
    head    conv 1x1 to the classes, BN, global mean

A block is ``1x1 expand (x 2.1) -> BN -> ReLU -> 3x3 depthwise (stride) -> BN -> ReLU -> 1x1 project -> BN``, plus
the input when the widths match (through a 3x3 average pool of the block's stride when strided), then ReLU. With
``base=32`` and 10 classes it has 61,148 parameters (122,296 bytes at fp16, the DCASE 2025 count).

``op=`` rebuilds every block around a lightops operator from the registry: the expansion and the depthwise
convolution become one operator ``in -> expanded`` (SC: 1x1 then depthwise 3x1 and 1x3; OSC: the 1x1 factored
through an orthonormal subspace; SPC: only part of the channels), followed by BN and ReLU, then the same 1x1
projection. So a user can see what each operator does inside the field's backbone (docs/models.md).
"""
from contextlib import nullcontext
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import make_divisible
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .. import validation
from ..ops import create_op
from ..ops.conv_chain import chain_macs
from ..validation import check_channels, check_float, check_input_size, check_int, conv_out_len

__all__ = ["CPMobile", "InvertedBottleneck", "ConvNormHead", "dcase2025_baseline"]

# Block index (1-based, over all stages) -> stride (frequency, time); the DCASE 2025 baseline's choice.
BASELINE_STRIDES: Dict[int, Tuple[int, int]] = {3: (1, 2), 4: (2, 1)}


def _conv_bn(in_chs: int, out_chs: int, kernel: int = 1, stride: Tuple[int, int] = (1, 1), groups: int = 1,
             act: bool = True) -> nn.Sequential:
    """``conv (no bias) -> BN [-> ReLU]`` with 'same' padding."""
    layers: List[nn.Module] = [nn.Conv2d(in_chs, out_chs, kernel, stride=stride, padding=kernel // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(out_chs)]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class InvertedBottleneck(nn.Module):
    """CP-Mobile's block: expand, depthwise, project; residual when the widths match.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        expansion: expansion rate; the expanded width is ``make_divisible(in_chs * expansion, 8)``.
        stride: stride ``(frequency, time)`` of the depthwise convolution.
        op: a registered lightops operator (``lightops.list_ops()``) replacing expansion + depthwise, or None.

    Params (``op=None``, ``E`` expanded width): ``Cin E + 2E + 9E + 2E + E Cout + 2 Cout``.
    MACs at batch 1 for an input ``(Cin, F, T)`` and output grid ``F' x T'``:
    ``Cin E F T + 9 E F' T' + E Cout F' T'`` (norms, the shortcut's pooling and the adds are not counted, as the
    DCASE convention counts convolutions). With ``op``, the operator's own ``macs`` replaces the first two terms.

    Shape:
        ``(B, in_chs, F, T) -> (B, out_chs, F', T')``, ``F' = (F - 1) // s_f + 1``.
    """

    def __init__(self, in_chs: int, out_chs: int, expansion: float = 2.1, stride: Tuple[int, int] = (1, 1),
                 op: Optional[str] = None) -> None:
        super().__init__()
        self.in_chs, self.out_chs, self.stride = in_chs, out_chs, tuple(stride)
        self.exp_chs = make_divisible(in_chs * expansion, 8)
        if op is None:
            self.expand = _conv_bn(in_chs, self.exp_chs)
            self.depthwise = _conv_bn(self.exp_chs, self.exp_chs, 3, self.stride, groups=self.exp_chs)
        else:  # one lightops operator in -> expanded (its own 1x1 expands), then the block's BN + ReLU
            self.expand = create_op(op, in_chs, self.exp_chs, stride=self.stride, norm_layer="batchnorm2d",
                                    act_layer="relu")
            self.depthwise = nn.Identity()
        self.project = _conv_bn(self.exp_chs, out_chs, act=False)
        self.use_shortcut = in_chs == out_chs
        pooled = self.use_shortcut and self.stride != (1, 1)
        self.shortcut = nn.AvgPool2d(3, stride=self.stride, padding=1) if pooled else nn.Identity()
        self.act = nn.ReLU()

    def output_size(self, input_size: Tuple[int, int, int]) -> Tuple[int, int, int]:
        """Output ``(C, F, T)`` for an input ``(C, F, T)``."""
        _, f, t = check_input_size(input_size, "InvertedBottleneck", self.in_chs)
        return self.out_chs, conv_out_len(f, self.stride[0]), conv_out_len(t, self.stride[1])

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """Multiply-accumulates at batch 1 (formula in the class docstring)."""
        _, f, t = check_input_size(input_size, "InvertedBottleneck", self.in_chs)
        if isinstance(self.depthwise, nn.Identity):  # a lightops operator: its own formula
            macs = self.expand.macs((self.in_chs, f, t))
            f, t = conv_out_len(f, self.stride[0]), conv_out_len(t, self.stride[1])
        else:
            macs, f, t = chain_macs(self.expand, f, t)
            dw, f, t = chain_macs(self.depthwise, f, t)
            macs += dw
        return macs + chain_macs(self.project, f, t)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chs, F, T) -> (B, out_chs, F', T')``."""
        y = self.project(self.depthwise(self.expand(x)))
        if self.use_shortcut:
            y = y + self.shortcut(x)
        return self.act(y)


class ConvNormHead(nn.Module):
    """CP-Mobile's classifier: ``1x1 conv (no bias) -> BN -> global mean`` (no hidden layer).

    Args:
        in_chs: feature channels.
        num_classes: outputs (0: no classifier; the head returns the pooled features).
        global_pool: ``"avg"`` (the baseline) or ``""`` (no pooling: maps out, as timm's heads allow).

    Params: ``in_chs K + 2 K``. MACs on an ``F x T`` map: ``in_chs K F T``.
    """

    def __init__(self, in_chs: int, num_classes: int, global_pool: str = "avg") -> None:
        super().__init__()
        self.in_chs = in_chs
        self.reset(num_classes, global_pool)

    def reset(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """New classifier with ``num_classes`` outputs (0: none); ``global_pool`` ``"avg"`` or ``""``."""
        if global_pool is not None:
            if global_pool not in ("avg", ""):
                raise ValueError(f"global_pool must be 'avg' or '' (no pooling), got {global_pool!r}")
            self.pool = global_pool == "avg"
        self.num_classes = num_classes
        if num_classes > 0:
            self.fc = nn.Sequential(nn.Conv2d(self.in_chs, num_classes, 1, bias=False), nn.BatchNorm2d(num_classes))
        else:
            self.fc = nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``(B, C, F, T) -> (B, num_classes)``; ``pre_logits=True`` returns the pooled features ``(B, C)``."""
        if pre_logits:
            return x.mean((2, 3)) if self.pool else x
        x = self.fc(x)
        return x.mean((2, 3)) if self.pool else x


class CPMobile(nn.Module):
    """Simplified CP-Mobile, the DCASE 2024/2025 Task 1 baseline (see the module docstring).

    Args:
        num_classes: classifier outputs (0: no classifier, forward returns pooled features).
        in_chans: input channels of the log-mel map.
        base_chs: channels after the stem (rounded to a multiple of 8).
        channel_mult: width growth per stage.
        expansion: expansion rate of the inverted bottlenecks.
        depths: blocks per stage.
        strides: block index (1-based over all stages) -> stride ``(frequency, time)``.
        op: a registered lightops operator in place of every block's expansion + depthwise (None: the baseline).
        global_pool: ``"avg"`` (the baseline's global mean) or ``""`` (unpooled maps).
        drop_rate: unused by the baseline (no dropout); accepted for timm's API and must be 0 or more.
        device: where to create the parameters.
        dtype: in what precision to create the parameters.

    Shape:
        ``(B, in_chans, F, T) -> (B, num_classes)``; ``forward_features`` gives ``(B, num_features, F/8, T/8)``
        for the default strides.
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1, base_chs: int = 32, channel_mult: float = 1.8,
                 expansion: float = 2.1, depths: Tuple[int, ...] = (3, 2, 1),
                 strides: Optional[Dict[int, Tuple[int, int]]] = None, op: Optional[str] = None,
                 global_pool: str = "avg", drop_rate: float = 0.0, device: Optional[Union[str, torch.device]] = None,
                 dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        check_int(num_classes, "num_classes", minimum=0)
        self.in_chans = check_channels(in_chans, "in_chans")
        check_channels(base_chs, "base_chs")
        check_float(channel_mult, "channel_mult", minimum=0.0, open_min=True)
        check_float(expansion, "expansion", minimum=0.0, open_min=True)
        check_float(drop_rate, "drop_rate", minimum=0.0, maximum=1.0, open_max=True)
        if not depths or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in depths):
            raise ValueError(f"depths must be a non-empty sequence of ints >= 1, got {depths!r}")
        self.num_classes, self.op, self.drop_rate = num_classes, op, drop_rate
        strides = dict(BASELINE_STRIDES if strides is None else strides)
        base = make_divisible(base_chs, 8)
        widths = [make_divisible(base * channel_mult ** s, 8) for s in range(len(depths))]
        with torch.device(device) if device is not None else nullcontext():
            self.stem = nn.Sequential(_conv_bn(in_chans, base // 4, 3, (2, 2)), _conv_bn(base // 4, base, 3, (2, 2)))
            stages, prev, index = [], base, 0
            for depth, width in zip(depths, widths):
                blocks = []
                for _ in range(depth):
                    index += 1
                    blocks.append(InvertedBottleneck(prev, width, expansion, strides.get(index, (1, 1)), op=op))
                    prev = width
                stages.append(nn.Sequential(*blocks))
            self.stages = nn.Sequential(*stages)
            self.num_features = self.head_hidden_size = prev
            self.head = ConvNormHead(prev, num_classes, global_pool)
        if dtype is not None:
            self.to(dtype=dtype)
        reduction, self.feature_info = 4, []
        for i, stage in enumerate(self.stages):
            reduction *= max(max(b.stride) for b in stage)
            self.feature_info.append(dict(num_chs=stage[-1].out_chs, reduction=reduction, module=f"stages.{i}"))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def stage_sizes(self, input_size: Tuple[int, int, int]) -> List[Tuple[int, int, int]]:
        """Output ``(C, F, T)`` of the stem and of every block for an input ``(C, F, T)``."""
        _, f, t = check_input_size(input_size, "CPMobile", self.in_chans)
        for _ in range(2):
            f, t = conv_out_len(f, 2), conv_out_len(t, 2)
        sizes = [(self.stem[-1][0].out_channels, f, t)]
        for block in (b for stage in self.stages for b in stage):
            sizes.append(block.output_size(sizes[-1]))
        return sizes

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs at batch 1 (convolutions, the classifier included) for an input ``(C, F, T)``."""
        sizes = self.stage_sizes(input_size)
        macs = chain_macs(self.stem, *input_size[1:])[0]
        blocks = [b for stage in self.stages for b in stage]
        macs += sum(b.macs(s) for b, s in zip(blocks, sizes[:-1]))
        c, f, t = sizes[-1]
        return macs + c * self.num_classes * f * t

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        """Parameter groups for layer-wise LR decay (timm)."""
        return dict(stem=r"^stem", blocks=r"^stages\.(\d+)" if coarse else r"^stages\.(\d+)\.(\d+)")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Gradient checkpointing is not implemented (the model is small); kept for timm's API."""

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The classifier layer."""
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """New classifier with ``num_classes`` outputs (0: none; ``global_pool=""``: unpooled maps).

        The new layer is created on the model's device, in its dtype and in its train/eval mode.
        """
        check_int(num_classes, "num_classes", minimum=0)
        ref = next(self.parameters())
        self.num_classes = num_classes
        self.head.reset(num_classes, global_pool)
        self.head.to(device=ref.device, dtype=ref.dtype).train(self.training)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, num_features, F', T')``: stem and stages."""
        validation.check_input(x, self.in_chans, "CPMobile")
        validation.check_dtype(x, self.stem[0][0].weight, "CPMobile")
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """1x1 classifier + BN + global mean (``pre_logits=True``: the pooled features)."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    cfg = dict(url="", num_classes=10, input_size=(1, 256, 65), pool_size=(32, 9), min_input_size=(1, 1, 1),
               crop_pct=1.0, interpolation="", mean=(0.0,), std=(1.0,), first_conv="stem.0.0",
               classifier="head.fc.0", license="apache-2.0",
               description="DCASE 2025 Task 1 baseline (simplified CP-Mobile), 61,148 params, reference model")
    cfg.update(kwargs)
    return cfg


default_cfgs = generate_default_cfgs({"dcase2025_baseline": _cfg()})


@register_model
def dcase2025_baseline(pretrained: bool = False, **kwargs: Any) -> CPMobile:
    """The DCASE 2025 Task 1 baseline (see :class:`CPMobile`); ``op="sc"|"osc"|"spc"`` puts a lightops operator in."""
    depths = kwargs.get("depths", (3, 2, 1))
    return build_model_with_cfg(CPMobile, "dcase2025_baseline", pretrained,
                                feature_cfg=dict(flatten_sequential=True, out_indices=tuple(range(len(depths)))),
                                **kwargs)
