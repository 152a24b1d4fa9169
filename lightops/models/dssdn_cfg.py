"""The architecture of a DSSDN as typed data: :class:`StemCfg`, :class:`BlockCfg`, :class:`DSSDNCfg`.

The registered variants are instances (``lightops.models.model_cfgs``); any valid one builds a
:class:`~lightops.models.DSSDN`, and ``DSSDNCfg.override`` replaces the open design choices by name (the model
arguments ``timm.create_model("dssdn_small", split="haar")`` passes on).
"""
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Tuple

from timm.layers import make_divisible

from ..blocks import INPUT_NORMS
from ..ops import get_op_class
from ..ops.bands import JOINS, SPLITS
from ..ops.depthwise_pair import check_freq_kernel
from ..stems import STEM_TYPES
from ..validation import check_channels, check_ratio

__all__ = ["StemCfg", "BlockCfg", "DSSDNCfg", "OVERRIDES", "BLOCK_OPTIONS", "SCALES"]


@dataclass(frozen=True)
class StemCfg:
    """Stem of a DSSDN."""

    kind: str = "highlow"  # "conv" (full band) | "cut" (keep low bins) | "highlow" (cheap high band)
    out_chs: int = 32  # stem channels
    ratio: float = 0.5  # "cut": fraction of bins kept; "highlow": fraction in the low band; "conv": unused
    stride: int = 2  # stride on both axes

    def __post_init__(self) -> None:
        if self.kind not in STEM_TYPES:
            raise ValueError(f"StemCfg.kind must be one of {sorted(STEM_TYPES)}, got {self.kind!r}")
        check_channels(self.out_chs, "StemCfg.out_chs")
        check_ratio(self.ratio, "StemCfg.ratio")
        check_channels(self.stride, "StemCfg.stride")


@dataclass(frozen=True)
class BlockCfg:
    """One DSSDB of a DSSDN."""

    out_chs: int  # block width C
    op: str = "sc"  # operator name from lightops.list_ops()
    low_ratio: float = 0.5  # fraction of frequency bins kept by the block (its low band)
    attn: Optional[str] = "eca"  # "eca" | "cca" | None
    time_pool: int = 1  # average pooling factor over time after the block
    distill_ratio: float = 0.5  # distilled tap width as a fraction of C
    op_kwargs: Tuple[Tuple[str, Any], ...] = ()  # extra operator options, e.g. (("orthogonal", "exact"),)
    join: str = "add"  # how the high band joins the low band: "add" (folded bin by bin) | "stack" (frequency order)
    high_op: Optional[str] = None  # the high band's path: None (1x1 + norm, the paper) | an operator name
    split: str = "band"  # "band" (low bins deep, the paper) | "haar" (pair means deep, half differences 1x1)
    freq_kernel: int = 3  # depthwise frequency kernel of the block's operators (1: time filters only)

    def __post_init__(self) -> None:
        check_channels(self.out_chs, "BlockCfg.out_chs")
        get_op_class(self.op)
        check_ratio(self.low_ratio, "BlockCfg.low_ratio")
        if self.low_ratio >= 1.0:
            raise ValueError(f"BlockCfg.low_ratio must be in (0, 1), got {self.low_ratio}")
        check_channels(self.time_pool, "BlockCfg.time_pool")
        check_ratio(self.distill_ratio, "BlockCfg.distill_ratio")
        if self.attn not in (None, "eca", "cca"):
            raise ValueError(f"BlockCfg.attn must be 'eca', 'cca' or None, got {self.attn!r}")
        if self.join not in JOINS:
            raise ValueError(f"BlockCfg.join must be one of {JOINS}, got {self.join!r}")
        if self.high_op is not None:
            get_op_class(self.high_op)
        if self.split not in SPLITS:
            raise ValueError(f"BlockCfg.split must be one of {SPLITS}, got {self.split!r}")
        try:
            check_freq_kernel(self.freq_kernel)
        except ValueError as e:
            raise ValueError(f"BlockCfg.{e}") from None
        object.__setattr__(self, "op_kwargs", tuple(tuple(kv) for kv in dict(self.op_kwargs).items()))


@dataclass(frozen=True)
class DSSDNCfg:
    """Architecture of a DSSDN as typed data: the three variants are instances, any valid one builds."""

    stem: StemCfg = field(default_factory=StemCfg)
    blocks: Tuple[BlockCfg, ...] = ()  # five in the paper; any number >= 1 builds
    norm_layer: str = "batchnorm2d"
    act_layer: str = "relu"
    n_mels: int = 256  # mel bins of the intended input: construction fails if the blocks halve more than that
    input_norm: Optional[str] = None  # None | "resnorm" (0.1 x + frequency-wise instance norm) | "instance" | "clip"
    scales: str = "all"  # "all": every block's output to the head (multi-scale concatenation) | "last"

    def __post_init__(self) -> None:
        check_channels(self.n_mels, "DSSDNCfg.n_mels")
        if self.input_norm is not None and self.input_norm not in INPUT_NORMS:
            raise ValueError(f"DSSDNCfg.input_norm must be None or one of {sorted(INPUT_NORMS)}, "
                             f"got {self.input_norm!r}")
        if self.scales not in SCALES:
            raise ValueError(f"DSSDNCfg.scales must be one of {sorted(SCALES)}, got {self.scales!r}")
        if isinstance(self.stem, dict):
            object.__setattr__(self, "stem", StemCfg(**self.stem))
        blocks = tuple(BlockCfg(**b) if isinstance(b, dict) else b for b in self.blocks)
        if not blocks:
            raise ValueError("DSSDNCfg.blocks must hold at least one BlockCfg")
        object.__setattr__(self, "blocks", blocks)

    def with_op(self, op: str, **op_kwargs: Any) -> "DSSDNCfg":
        """The same architecture with every block's operator replaced."""
        return replace(self, blocks=tuple(replace(b, op=op, op_kwargs=tuple(op_kwargs.items()))
                                          for b in self.blocks))

    def override(self, **options: Any) -> "DSSDNCfg":
        """The same architecture with the open design choices replaced, each by name (``None``: keep the cfg's).

        ``stem`` (kind), ``stem_ratio``, ``norm_layer``, ``act_layer``, ``input_norm`` (``"none"`` for none),
        ``scales`` apply to the model; ``low_ratio``, ``attn`` (``"none"`` for none), ``distill_ratio``, ``join``,
        ``high_op`` (``"none"`` for the 1x1), ``split`` to every block; ``freq_blocks = n``: the first ``n`` blocks
        keep their operators' frequency kernels, every later block filters over time only (``freq_kernel = 1``),
        which bounds the frequency receptive field (:meth:`frequency_receptive_fields`). These are the choices
        ablated in docs/models.md; ``timm.create_model("dssdn_small", attn="none")`` passes them here.
        """
        unknown = sorted(set(options) - set(OVERRIDES))
        if unknown:
            raise ValueError(f"DSSDNCfg.override: unknown options {unknown}; known: {sorted(OVERRIDES)}")
        given = {k: (None if v == "none" and k in ("attn", "input_norm", "high_op") else v)
                 for k, v in options.items() if v is not None}
        cfg = self
        if "freq_blocks" in given:
            n = given.pop("freq_blocks")
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= len(cfg.blocks):
                raise ValueError(f"freq_blocks must be an int from 0 to the number of blocks ({len(cfg.blocks)}), "
                                 f"got {n!r}")
            cfg = replace(cfg, blocks=tuple(b if i < n else replace(b, freq_kernel=1)
                                            for i, b in enumerate(cfg.blocks)))
        stem = {OVERRIDES[k]: given.pop(k) for k in ("stem", "stem_ratio") if k in given}
        if stem:
            cfg = replace(cfg, stem=replace(cfg.stem, **stem))
        block = {k: given.pop(k) for k in BLOCK_OPTIONS if k in given}
        if block:
            cfg = replace(cfg, blocks=tuple(replace(b, **block) for b in cfg.blocks))
        return replace(cfg, **given) if given else cfg

    def frequency_receptive_fields(self) -> Tuple[int, ...]:
        """The receptive field along frequency of each block's output, in input mel bins, along the deep path.

        The stem's 3-tap convolution with stride ``s`` gives 3 bins and a step of ``s``; a block's Haar split then
        adds one step and doubles it (the band split keeps both), and each of its four operators (three refine
        stages and the last tap) adds ``(freq_kernel - 1)`` steps. With the Haar split the high band (the pair
        differences, through 1x1 convolutions) covers the same bins; with the band split it joins bin ``i`` with a
        high bin far from it, a second region not counted here. Channel attention (ECA, a global mean per channel)
        is not counted either, as in receptive-field analyses of squeeze-excitation networks. A test checks these
        figures against the input bins a block's output has a gradient for (Haar-split models).
        """
        rf, step, fields = 3, self.stem.stride, []
        for b in self.blocks:
            if b.split == "haar":
                rf, step = rf + step, 2 * step
            rf += 4 * (b.freq_kernel - 1) * step
            fields.append(rf)
        return tuple(fields)

    def scaled(self, width: float) -> "DSSDNCfg":
        """Channel counts multiplied by ``width`` (rounded to multiples of 4, timm's ``make_divisible``)."""
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
            raise ValueError(f"width must be a positive number, got {width!r}")
        if width == 1.0:
            return self
        return replace(self, stem=replace(self.stem, out_chs=make_divisible(self.stem.out_chs * width, 4)),
                       blocks=tuple(replace(b, out_chs=make_divisible(b.out_chs * width, 4)) for b in self.blocks))

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        d = asdict(self)
        for b in d["blocks"]:
            b["op_kwargs"] = dict(b["op_kwargs"])
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DSSDNCfg":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        blocks = [dict(b, op_kwargs=tuple(dict(b.get("op_kwargs", {})).items())) for b in d.pop("blocks")]
        return cls(stem=StemCfg(**d.pop("stem")), blocks=tuple(BlockCfg(**b) for b in blocks), **d)


SCALES = ("all", "last")
BLOCK_OPTIONS = ("low_ratio", "attn", "distill_ratio", "join", "high_op", "split")  # override options of every block
# DSSDN / timm.create_model keyword -> the DSSDNCfg (or StemCfg) field it replaces (DSSDNCfg.override)
OVERRIDES = dict(stem="kind", stem_ratio="ratio", norm_layer="norm_layer", act_layer="act_layer",
                 input_norm="input_norm", scales="scales", low_ratio="low_ratio", attn="attn",
                 distill_ratio="distill_ratio", join="join", high_op="high_op", split="split",
                 freq_blocks="freq_kernel")
