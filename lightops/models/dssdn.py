"""DSSDN: Deep Space Separable Distillation Network for lightweight acoustic scene classification.

Paper: "Deep Space Separable Distillation for Lightweight Acoustic Scene Classification",
ShuQi Ye and Yuan Tian, arXiv 2405.03567 (2024). https://arxiv.org/abs/2405.03567

A stem, five Deep Space Separable Distilled Blocks (each splits the mel axis in two halves and runs its deep path on
one of them), and multi-scale concatenation: every block's output is pooled to the last block's grid and
concatenated on channels before the classifier. Where the paper is silent, the choices are written in
docs/models.md. Large uses SC, Middle OSC, Small and Tiny SPC. Every variant uses the full-band stem, the Haar split
(the means of neighbouring bin pairs on the deep path) and ClipNorm at the input, which hold on recording devices not
seen in training; ``stem="highlow", split="band", input_norm="none"`` builds the paper's structure.
"""
import math
from contextlib import nullcontext
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from timm.layers import ClassifierHead
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .. import validation
from ..blocks import DSSDB, LastScale, MultiScaleConcat, create_input_norm
from ..stems import create_stem
from ..validation import check_channels
from .dssdn_cfg import BlockCfg, DSSDNCfg, StemCfg
from .dssdn_deploy import DeployDSSDN, PlainHead

__all__ = ["DSSDN", "DSSDNCfg", "BlockCfg", "StemCfg", "AUDIO_CFG", "DCASE2025_AUDIO_CFG", "model_cfgs"]

# Default front end (DESIGN.md): 44.1 kHz mono, n_fft 4096, hop 1024, 256 mel bins, log power.
AUDIO_CFG: Dict[str, Any] = dict(sample_rate=44100, n_fft=4096, hop_length=1024, n_mels=256, log="power_db",
                                 clip_seconds=10.0)
# The DCASE 2024/2025 Task 1 baseline's front end: 32 kHz, hop 500, 256 mel bins; a 1-s clip is (1, 256, 65).
DCASE2025_AUDIO_CFG: Dict[str, Any] = dict(sample_rate=32000, n_fft=4096, hop_length=500, n_mels=256, log="power_db",
                                           clip_seconds=1.0)


def _check_head_args(num_classes: int, drop_rate: float, drop_path_rate: float) -> None:
    """Raise ``ValueError`` naming a bad ``num_classes`` (int >= 0) or rate (in [0, 1))."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an int >= 0 (0: no classifier), got {num_classes!r}")
    for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1), got {rate!r}")


@torch.fx.wrap
def _check_model_input(x: torch.Tensor, in_chans: int, min_bins: int, min_frames: int) -> None:
    """Raise ``ValueError`` naming the expected ``(B, C, F, T)`` shape (``TypeError`` for what is not a tensor)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"DSSDN: expected a torch.Tensor log-mel input (B, {in_chans}, F, T), got "
                        f"{type(x).__name__} (torch.from_numpy(array).float() converts a NumPy array)")
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"DSSDN: expected a log-mel input (B, {in_chans}, F, T), got shape {list(x.shape)}")
    if x.shape[0] == 0:  # timm's ECA and the Haar split reshape with -1, which an empty batch leaves undefined
        raise ValueError(f"DSSDN: the batch is empty (shape {list(x.shape)}); give at least one clip")
    if x.shape[2] < min_bins or x.shape[3] < min_frames:
        raise ValueError(f"DSSDN: expected at least F >= {min_bins} mel bins and T >= {min_frames} frames in "
                         f"(B, {in_chans}, F, T), got shape {list(x.shape)}")


class DSSDN(nn.Module):
    """Deep Space Separable Distillation Network.

    Args:
        cfg: architecture (:class:`DSSDNCfg`).
        num_classes: classifier outputs (0: no classifier, forward returns pooled features).
        in_chans: input channels of the log-mel map (1).
        global_pool: timm pooling type (``"avg"``, ``"max"``, ``"avgmax"``, ``"catavgmax"``, ``""``).
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth on the blocks' residual refinements, linearly increasing.
        op: rebuild the architecture with this operator in every block.
        width: channel multiplier.
        device: where to create the parameters.
        dtype: in what precision to create the parameters.
        stem: stem kind instead of ``cfg``'s (``None`` keeps it; the same for every choice below, through
            :meth:`DSSDNCfg.override`).
        stem_ratio: the stem's band ratio (``"cut"``: bins kept; ``"highlow"``: low band share).
        norm_layer: normalisation layer name (timm's ``get_norm_layer``), e.g. ``"groupnorm1"``.
        act_layer: activation name (timm's ``get_act_layer``).
        input_norm: normalisation of the log-mel input before the stem: ``"resnorm"``, ``"instance"``, ``"clip"``
            or ``"none"``.
        scales: ``"all"`` (every block's output pooled and concatenated) or ``"last"`` (last block only).
        low_ratio: every block's low-band share.
        attn: every block's attention (``"eca"``, ``"se"``, ... or ``"none"``).
        distill_ratio: every block's distilled channel share.
        join: how every block's high band joins its low band: ``"add"`` (folded bin by bin) or ``"stack"``
            (side by side in frequency order, pooled; :func:`lightops.ops.bands.join_bands`).
        high_op: every block's high-band path: ``"none"`` (the paper's 1x1 + norm) or an operator name (``"sc"``).
        split: how every block splits the frequency axis: ``"band"`` (the lowest bins deep) or ``"haar"`` (means of
            neighbouring bin pairs deep, their differences through the 1x1; :func:`lightops.ops.bands.split_haar`).

    Shape:
        ``(B, in_chans, F, T) -> (B, num_classes)``; ``forward_features`` gives ``(B, num_features, F5, T5)``.
    """

    def __init__(
        self,
        cfg: DSSDNCfg,
        num_classes: int = 10,
        in_chans: int = 1,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        op: Optional[str] = None,
        width: float = 1.0,
        device: Optional[Union[str, torch.device]] = None,
        dtype: Optional[torch.dtype] = None,
        stem: Optional[str] = None,
        stem_ratio: Optional[float] = None,
        norm_layer: Optional[str] = None,
        act_layer: Optional[str] = None,
        input_norm: Optional[str] = None,
        scales: Optional[str] = None,
        low_ratio: Optional[float] = None,
        attn: Optional[str] = None,
        distill_ratio: Optional[float] = None,
        join: Optional[str] = None,
        high_op: Optional[str] = None,
        split: Optional[str] = None,
        freq_blocks: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(cfg, DSSDNCfg):
            raise TypeError(f"cfg must be a DSSDNCfg, got {type(cfg).__name__}")
        _check_head_args(num_classes, drop_rate, drop_path_rate)
        if op is not None:
            cfg = cfg.with_op(op)
        cfg = cfg.override(stem=stem, stem_ratio=stem_ratio, norm_layer=norm_layer, act_layer=act_layer,
                           input_norm=input_norm, scales=scales, low_ratio=low_ratio, attn=attn,
                           distill_ratio=distill_ratio, join=join, high_op=high_op, split=split,
                           freq_blocks=freq_blocks)
        self.cfg = cfg = cfg.scaled(width)
        self.num_classes = num_classes
        self.in_chans = check_channels(in_chans, "in_chans")
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        with torch.device(device) if device is not None else nullcontext():
            # None rather than an Identity: the fused and exported graphs carry no node for it
            self.input_norm = None if cfg.input_norm is None else create_input_norm(cfg.input_norm)
            s = cfg.stem
            stem_kw = {"cut": {"keep": s.ratio}, "highlow": {"low_ratio": s.ratio}}.get(s.kind, {})
            self.stem = create_stem(s.kind, in_chans, s.out_chs, stride=s.stride, norm_layer=cfg.norm_layer,
                                    act_layer=cfg.act_layer, **stem_kw)
            dpr = [drop_path_rate * i / max(1, len(cfg.blocks) - 1) for i in range(len(cfg.blocks))]
            blocks, prev = [], s.out_chs
            for i, b in enumerate(cfg.blocks):
                blocks.append(DSSDB(prev, b.out_chs, op=b.op, op_kwargs=dict(b.op_kwargs), low_ratio=b.low_ratio,
                                    distill_ratio=b.distill_ratio, attn=b.attn, time_pool=b.time_pool,
                                    norm_layer=cfg.norm_layer, act_layer=cfg.act_layer, drop_path=dpr[i],
                                    join=b.join, high_op=b.high_op, split=b.split, freq_kernel=b.freq_kernel))
                prev = b.out_chs
            self.blocks = nn.Sequential(*blocks)
            if cfg.scales == "all":
                self.scales = MultiScaleConcat()  # every block's output pooled to the last grid, concatenated
                self.num_features = self.head_hidden_size = sum(b.out_chs for b in cfg.blocks)
            else:
                self.scales = LastScale()
                self.num_features = self.head_hidden_size = cfg.blocks[-1].out_chs
            self.head = ClassifierHead(self.num_features, num_classes, pool_type=global_pool, drop_rate=drop_rate)
        if dtype is not None:
            self.to(dtype=dtype)
        self.min_bins, self.min_frames = self._min_input()
        if self.min_bins > cfg.n_mels:
            raise ValueError(f"DSSDNCfg.blocks: {len(cfg.blocks)} frequency splits need at least {self.min_bins} mel "
                             f"bins, but DSSDNCfg.n_mels={cfg.n_mels}; use fewer blocks or a larger low_ratio")
        reductions = self._reductions()
        self.feature_info = [dict(num_chs=b.out_chs, reduction=r, module=f"blocks.{i}")
                             for i, (b, r) in enumerate(zip(cfg.blocks, reductions))]
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    # ---- shapes --------------------------------------------------------------------------------------------
    def _min_input(self) -> Tuple[int, int]:
        """Smallest (F, T) accepted: every block needs >= 2 bins to split, every downsampling a full window."""
        min_frames = self.cfg.stem.stride * math.prod(b.time_pool for b in self.cfg.blocks)
        for f in range(2, 1 << 16):
            try:
                sizes = [self.stem.output_size((self.in_chans, f, min_frames))]
                for blk in self.blocks:
                    sizes.append(blk.output_size(sizes[-1]))
            except ValueError:  # a block got < 2 bins
                continue
            return f, min_frames
        raise ValueError("DSSDNCfg: no input of up to 65535 mel bins fits the frequency splits of this architecture")

    def stage_sizes(self, input_size: Tuple[int, int, int]) -> List[Tuple[int, int, int]]:
        """Output ``(C, F, T)`` of the stem and of every block for an input ``(C, F, T)``."""
        self._check_size(input_size)
        sizes = [self.stem.output_size(tuple(input_size))]
        for blk in self.blocks:
            sizes.append(blk.output_size(sizes[-1]))
        return sizes

    def _reductions(self) -> List[int]:
        f = max(256, self.min_bins)
        return [max(1, round(f / s[1])) for s in self.stage_sizes((self.in_chans, f, 431))[1:]]

    def _check_size(self, input_size: Tuple[int, int, int]) -> None:
        size = validation.check_input_size(input_size, "DSSDN", self.in_chans)
        if size[1] < self.min_bins or size[2] < self.min_frames:
            raise ValueError(f"DSSDN: expected at least F >= {self.min_bins} mel bins and T >= {self.min_frames} "
                             f"frames in (C, F, T), got {tuple(size)}")

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """MACs at batch 1 (convolutions and the linear classifier) for an input ``(C, F, T)``."""
        sizes = self.stage_sizes(input_size)
        macs = self.stem.macs(tuple(input_size)) + sum(b.macs(s) for b, s in zip(self.blocks, sizes[:-1]))
        return macs + self.num_features * self.num_classes

    # ---- timm model API ------------------------------------------------------------------------------------
    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, Any]:
        """Parameter groups for layer-wise LR decay (timm)."""
        return dict(stem=r"^stem", blocks=r"^blocks\.(\d+)")

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Gradient checkpointing is not implemented (the models are small); kept for timm's API."""
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The classifier layer."""
        return self.head.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        """New classifier with ``num_classes`` outputs (0: none); ``global_pool=""`` returns unpooled maps.

        The new layer is created on the device and in the dtype of the model's parameters.
        """
        _check_head_args(num_classes, self.drop_rate, 0.0)
        ref = next(self.parameters())
        self.num_classes = num_classes
        self.head.reset(num_classes, pool_type=global_pool)
        self.head.to(device=ref.device, dtype=ref.dtype)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, num_features, F5, T5)``: input norm, stem, blocks, multi-scale concatenation."""
        _check_model_input(x, self.in_chans, self.min_bins, self.min_frames)
        validation.check_dtype(x, self.stem.first_weight(), "DSSDN")
        if self.input_norm is not None:
            x = self.input_norm(x)
        x = self.stem(x)
        feats: List[torch.Tensor] = []
        for blk in self.blocks:
            x = blk(x)
            feats.append(x)
        return self.scales(feats)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pooling, dropout, classifier (``pre_logits=True`` stops before the classifier)."""
        return self.head(x, pre_logits=pre_logits) if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))

    # ---- inference forms (lightops.deploy.fuse builds them on an eval-mode copy) ------------------------------
    def inference_form(self) -> nn.Module:
        """The model with timm's head swapped for :class:`~lightops.models.dssdn_deploy.PlainHead` (no dropout or
        flatten calls), in place; its stem and blocks are already in their inference form."""
        if PlainHead.convertible(self.head):
            self.head = PlainHead(self.head)
        return self

    def export_form(self, input_size: Tuple[int, int, int], fixed_length: bool = True) -> nn.Module:
        """The exported model for inputs ``(C, F, T)`` (:class:`~lightops.models.dssdn_deploy.DeployDSSDN`: the
        multi-scale pooling as constant weights; ``fixed_length``: for that ``T`` only); ``self`` without an
        average-pool classifier."""
        if not DeployDSSDN.convertible(self):
            return self
        return DeployDSSDN(self, tuple(input_size), fixed_length=fixed_length)


def _variant(stem_chs: int, chs: Tuple[int, ...], op: str) -> DSSDNCfg:
    """A registered variant: the full-band ``conv`` stem, five ``op`` blocks (time pools 2, 2, 2, 1, 1, ECA) with the
    Haar split, and ClipNorm at the input."""
    blocks = tuple(BlockCfg(out_chs=c, op=op, time_pool=p, attn="eca", split="haar")
                   for c, p in zip(chs, (2, 2, 2, 1, 1)))
    return DSSDNCfg(stem=StemCfg("conv", stem_chs), blocks=blocks, input_norm="clip")


model_cfgs: Dict[str, DSSDNCfg] = dict(
    # Every variant: the full-band stem and the Haar split, the pair that holds on recording devices not seen in
    # training (docs/models.md, "The split and the stem that hold on unseen devices"), and ClipNorm at the input
    # (ahead overall and on unseen devices on both synthetic families and the folder: "ClipNorm at the input"; for
    # Middle, "Middle and Large with Small's structure"). The paper's structure: stem="highlow", split="band",
    # input_norm="none".
    dssdn_large=_variant(48, (64, 96, 128, 176, 224), "sc"),
    dssdn_middle=_variant(32, (48, 72, 96, 128, 160), "osc"),
    dssdn_small=_variant(24, (32, 40, 56, 64, 80), "spc"),
    # dssdn_small at width 0.78 (lightops.profiling.fit_budget to 64,000 params and 30 MMACs on (1, 256, 65)): the
    # DCASE 2025 Task 1 limit of 128,000 bytes of parameters at fp16
    dssdn_tiny=_variant(20, (24, 32, 44, 48, 64), "spc"),
)


def _create_dssdn(variant: str, pretrained: bool = False, **kwargs: Any) -> DSSDN:
    cfg = kwargs.pop("cfg", None) or model_cfgs[variant]
    model = build_model_with_cfg(
        DSSDN, variant, pretrained, model_cfg=cfg,
        feature_cfg=dict(flatten_sequential=True, out_indices=tuple(range(len(cfg.blocks)))), **kwargs)
    if isinstance(model, DSSDN):
        audio = DCASE2025_AUDIO_CFG if variant == "dssdn_tiny" else AUDIO_CFG
        model.pretrained_cfg = dict(model.pretrained_cfg, **audio)
    return model


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    # pool_size and min_input_size are checked against the built models by tests/models/test_dssdn.py.
    cfg = dict(url="", num_classes=10, input_size=(1, 256, 431), pool_size=(4, 27), min_input_size=(1, 33, 16),
               crop_pct=1.0, interpolation="", mean=(0.0,), std=(1.0,), first_conv="stem.conv.0",
               classifier="head.fc", license="apache-2.0", paper_ids="arXiv:2405.03567",
               paper_name="Deep Space Separable Distillation for Lightweight Acoustic Scene Classification")
    cfg.update(kwargs)
    return cfg


default_cfgs = generate_default_cfgs({
    "dssdn_large": _cfg(description="DSSDN-Large (SC), <= 1M params, <= 1 GMACs per 10-s clip"),
    "dssdn_middle": _cfg(description="DSSDN-Middle (OSC), <= 400K params, <= 500 MMACs per 10-s clip"),
    "dssdn_small": _cfg(input_size=(1, 256, 44), pool_size=(4, 3),
                        description="DSSDN-Small (SPC), <= 128K params, <= 30 MMACs per 1-s clip (DCASE limit)"),
    "dssdn_tiny": _cfg(input_size=(1, 256, 65), pool_size=(4, 5),
                       description="DSSDN-Tiny (SPC), <= 128,000 B of parameters at fp16 and <= 30 MMACs on the DCASE "
                                   "2025 baseline's 1-s input (1, 256, 65)"),
})


@register_model
def dssdn_large(pretrained: bool = False, **kwargs: Any) -> DSSDN:
    """DSSDN-Large: SC operators, Haar split, <= 1M params, <= 1 GMACs on a 10-s clip."""
    return _create_dssdn("dssdn_large", pretrained, **kwargs)


@register_model
def dssdn_middle(pretrained: bool = False, **kwargs: Any) -> DSSDN:
    """DSSDN-Middle: OSC operators, Haar split, <= 400K params, <= 500 MMACs on a 10-s clip."""
    return _create_dssdn("dssdn_middle", pretrained, **kwargs)


@register_model
def dssdn_small(pretrained: bool = False, **kwargs: Any) -> DSSDN:
    """DSSDN-Small: SPC operators, Haar split, <= 128K params, <= 30 MMACs on a 1-s clip (DCASE 2022-24 Task 1)."""
    return _create_dssdn("dssdn_small", pretrained, **kwargs)


@register_model
def dssdn_tiny(pretrained: bool = False, **kwargs: Any) -> DSSDN:
    """DSSDN-Tiny: SPC operators, Haar split, <= 128,000 B at fp16, <= 30 MMACs on (1, 256, 65) (DCASE 2025 Task 1)."""
    return _create_dssdn("dssdn_tiny", pretrained, **kwargs)
