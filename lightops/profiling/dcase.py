"""Complexity as the DCASE Task 1 organisers count it, for one model or a general model and its device models.

DCASE 2025 Task 1 (the baseline's ``helpers/complexity.py``):

- **MACs** = torchinfo's ``total_mult_adds`` of one forward pass on a float32 copy of the model, at the model's input
  ``(1, C, F, T)`` (the log-mel: the front end is not counted), at most ``30,000,000``. torchinfo also counts conv
  and linear biases and BatchNorm's affine terms as mult-adds, so the figure is a little above the operators' own
  formulas (``model.macs``; docs/profiling.md).
- **Parameter memory** = the sum over ``model.parameters()`` of ``numel x bytes(dtype)`` (float32 4 B, float16 and
  bfloat16 2 B, int8/uint8/qint8/quint8 1 B, int32 4 B; buffers not counted), at most ``128,000`` bytes, by the dtype
  the parameters really hold.
- Both limits hold **for each device model** (a general model and one fine-tuned copy per training device).

``dtype`` casts a copy first: ``"fp16"`` with ``.half()`` (what the baseline does before counting), ``"fp32"`` with
``.float()``. ``"int8"`` counts 1 byte per parameter, as the organisers' table does for int8 parameters: it is a
count *of the stated dtype*. An int8 model from ``lightops quantize`` (:mod:`lightops.deploy.pt2e`) is counted as
it is stored: the weights and biases its program uses at their dtypes (int8 weights 1 byte), MACs of its float model.

The DCASE 2022-2024 reading that lightops' budgets use (``rules="dcase2024"``) limits the parameter *count* to
128,000 (the 128 kB at 1 byte per parameter) and the MACs to 30,000,000, counted the same way.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ..budgets import DCASE2025_MAX_PARAM_BYTES, DCASE_MAX_MACS, DCASE_MAX_PARAMS

__all__ = ["DTYPE_BYTES", "DTYPES", "RULES", "DcaseRules", "DcaseComplexity",
           "dcase_complexity", "dcase_report", "param_bytes"]

DTYPE_BYTES: Dict[torch.dtype, int] = {
    torch.float32: 4, torch.float16: 2, torch.bfloat16: 2, torch.int8: 1, torch.uint8: 1, torch.int32: 4,
    torch.qint8: 1, torch.quint8: 1,
}
"""Bytes per parameter of each dtype the organisers' counter knows (others are refused, as theirs refuses them)."""

DTYPES = ("fp32", "fp16", "int8")
"""The dtypes ``dcase_complexity(dtype=...)`` counts at."""


@dataclass(frozen=True)
class DcaseRules:
    """The complexity limits of one DCASE edition.

    Attributes:
        name: ``"dcase2025"`` or ``"dcase2024"``.
        max_macs: torchinfo mult-adds of one forward pass at batch 1.
        max_param_bytes: bytes of parameters at the dtype they hold (None: not limited this way).
        max_params: number of parameters (None: not limited this way).
    """

    name: str
    max_macs: int
    max_param_bytes: Optional[int] = None
    max_params: Optional[int] = None


RULES: Dict[str, DcaseRules] = {
    "dcase2025": DcaseRules("dcase2025", DCASE_MAX_MACS, max_param_bytes=DCASE2025_MAX_PARAM_BYTES),
    "dcase2024": DcaseRules("dcase2024", DCASE_MAX_MACS, max_params=DCASE_MAX_PARAMS),
}
"""The rules ``--rules`` names."""


@dataclass(frozen=True)
class DcaseComplexity:
    """One model counted as the organisers count it, and its verdict.

    Attributes:
        macs: torchinfo ``total_mult_adds`` on ``(1, *input_size)``.
        params: parameters (``model.parameters()``, shared tensors once).
        param_bytes: bytes of the parameters at ``dtype``.
        dtype: what the bytes were counted at: ``"float32"``, ``"float16"``, ``"mixed"``, or ``"int8 (stated)"``.
        input_size: ``(C, F, T)`` of the model's input.
        rules: the rules' name.
        max_macs: the MAC limit.
        max_param_bytes: the byte limit (None under rules that limit the count).
        max_params: the count limit (None under rules that limit the bytes).
    """

    macs: int
    params: int
    param_bytes: int
    dtype: str
    input_size: Tuple[int, ...]
    rules: str
    max_macs: int
    max_param_bytes: Optional[int]
    max_params: Optional[int]

    @property
    def macs_ok(self) -> bool:
        """MACs within the limit."""
        return self.macs <= self.max_macs

    @property
    def memory_ok(self) -> bool:
        """Parameter bytes (or count) within the limit."""
        if self.max_param_bytes is not None and self.param_bytes > self.max_param_bytes:
            return False
        return self.max_params is None or self.params <= self.max_params

    @property
    def ok(self) -> bool:
        """Both within the limits."""
        return self.macs_ok and self.memory_ok

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready), with the verdicts."""
        return dict(asdict(self), input_size=list(self.input_size), macs_ok=self.macs_ok, memory_ok=self.memory_ok,
                    ok=self.ok)

    def __str__(self) -> str:
        verdict = "PASSES" if self.ok else "FAILS"
        if self.max_param_bytes is not None:
            memory = (f"{self.param_bytes:,} / {self.max_param_bytes:,} B parameter memory at {self.dtype} "
                      f"({self.params:,} params)")
        else:
            memory = f"{self.params:,} / {self.max_params:,} params ({self.param_bytes:,} B at {self.dtype})"
        return (f"{verdict} {self.rules}: {self.macs:,} / {self.max_macs:,} MACs on "
                f"{tuple(self.input_size)}, {memory}")


def param_bytes(model: nn.Module) -> Tuple[int, str]:
    """Bytes of ``model.parameters()`` by the dtype each holds, and that dtype (``"mixed"`` for several).

    Raises:
        ValueError: a parameter of a dtype the organisers' counter does not know.
    """
    total, kinds = 0, set()
    for p in model.parameters():
        if p.dtype not in DTYPE_BYTES:
            raise ValueError(f"param_bytes: a parameter of dtype {p.dtype}; expected one of {list(DTYPE_BYTES)}")
        total += p.numel() * DTYPE_BYTES[p.dtype]
        kinds.add(str(p.dtype).replace("torch.", ""))
    return total, (kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "float32")


def _torchinfo_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    from torchinfo import summary

    # a float32 copy on the CPU, as the organisers count it (torchinfo needs full precision); eval mode
    probe = copy.deepcopy(model).float().cpu()
    return int(summary(probe, input_size=(1, *input_size), verbose=0, device="cpu").total_mult_adds)


def dcase_complexity(model: nn.Module, input_size: Sequence[int], dtype: Optional[str] = None,
                     rules: str = "dcase2025") -> DcaseComplexity:
    """Count ``model`` as the DCASE Task 1 organisers do and give the verdict under ``rules``.

    Args:
        model: the classifier (log-mel in, logits out); never modified.
        input_size: ``(C, F, T)`` of one input, e.g. ``(1, 256, 65)`` for the DCASE 2025 baseline's 1-s clip.
        dtype: None (count the dtype the parameters hold), ``"fp32"``/``"fp16"`` (count a copy cast with
            ``.float()``/``.half()``), or ``"int8"`` (1 byte per parameter: a count of the stated dtype).
        rules: a key of :data:`RULES`.

    Raises:
        ValueError: unknown ``dtype`` or ``rules``, an ``input_size`` that is not three positive ints.
    """
    if rules not in RULES:
        raise ValueError(f"dcase_complexity: rules must be one of {list(RULES)}, got {rules!r}")
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dcase_complexity: dtype must be one of {list(DTYPES)} or None, got {dtype!r}")
    size = tuple(int(v) for v in input_size)
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"dcase_complexity: input_size must be (C, F, T), three positive ints, got {input_size!r}")
    params = sum(p.numel() for p in model.parameters())
    if callable(getattr(model, "int8_param_bytes", None)):  # an int8 model (lightops quantize): its program's weights
        (nbytes, params), held = model.int8_param_bytes(), "int8 program"
        model = model.float_model  # MACs of the float model it was quantized from
    elif dtype == "int8":
        nbytes, held = params, "int8 (stated)"
    elif dtype is not None:
        nbytes, held = param_bytes(copy.deepcopy(model).half() if dtype == "fp16" else copy.deepcopy(model).float())
    else:
        nbytes, held = param_bytes(model)
    r = RULES[rules]
    return DcaseComplexity(_torchinfo_macs(model, size), params, nbytes, held, size, r.name, r.max_macs,
                           r.max_param_bytes, r.max_params)


def dcase_report(models: Mapping[str, nn.Module], input_size: Sequence[int], dtype: Optional[str] = None,
                 rules: str = "dcase2025", source: str = "") -> Dict[str, Any]:
    """:func:`dcase_complexity` of every model of a submission (``"general"`` and one per device), as a JSON dict.

    Returns:
        ``{"source", "rules", "dtype", "input_size", "ok", "models": {name: DcaseComplexity.to_dict()}}``; ``ok``
        when every model passes.
    """
    records = {name: dcase_complexity(m, input_size, dtype, rules) for name, m in models.items()}
    return {"source": source, "rules": rules, "dtype": dtype or "as held", "input_size": list(input_size),
            "ok": all(r.ok for r in records.values()), "models": {k: r.to_dict() for k, r in records.items()}}
