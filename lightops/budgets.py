"""Complexity budgets as named constants, in one place: DESIGN.md's per-variant budgets and DCASE Task 1's limit.

Models quote them in their descriptions, profiling checks against them (:func:`lightops.profiling.check_budget`),
the CLI prints them (``lightops budget``), tests assert them.
"""
from dataclasses import dataclass
from typing import Dict, Tuple

__all__ = ["Budget", "BUDGETS", "DCASE_MAX_PARAMS", "DCASE_MAX_MACS", "DCASE2025_MAX_PARAM_BYTES", "DCASE2025_INPUT",
           "CLIP_10S", "CLIP_1S"]

CLIP_10S = (1, 256, 431)  # (C, F, T): a 10-s clip of the default front end
CLIP_1S = (1, 256, 44)  # a 1-s clip

# DCASE 2022-2024 Task 1 (low-complexity ASC): 128K parameters, 30 MMACs for one 1-s clip.
DCASE_MAX_PARAMS = 128_000
DCASE_MAX_MACS = 30_000_000
# DCASE 2025 Task 1: 30 MMACs (torchinfo) and 128,000 bytes of parameters at the dtype they hold, per device model
# (lightops.profiling.dcase); the baseline's input is a 1-s clip at 32 kHz, hop 500, 256 mels.
DCASE2025_MAX_PARAM_BYTES = 128_000
DCASE2025_INPUT = (1, 256, 65)


def _si(n: int) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)


@dataclass(frozen=True)
class Budget:
    """A complexity budget: parameters and MACs on a stated input."""

    max_params: int  # trainable parameters
    max_macs: int  # multiply-accumulates of one forward pass at batch 1
    input_size: Tuple[int, int, int]  # (C, F, T) the MACs are counted on
    label: str = ""  # where the budget comes from

    @property
    def clip(self) -> str:
        """``"10-s"``, ``"1-s"`` (default front end) or ``"1-s at 32 kHz"`` (the DCASE 2025 baseline's input)."""
        if tuple(self.input_size) == DCASE2025_INPUT:
            return "1-s at 32 kHz"
        return f"{round(self.input_size[2] * 1024 / 44100)}-s"

    @property
    def short_label(self) -> str:
        """E.g. ``"<= 1M params, <= 1G MACs on 10-s"``."""
        return f"<= {_si(self.max_params)} params, <= {_si(self.max_macs)} MACs on {self.clip}"


BUDGETS: Dict[str, Budget] = {
    "dssdn_large": Budget(1_000_000, 1_000_000_000, CLIP_10S, "DSSDN-L: < 1M params, < 1 GMACs / 10 s"),
    "dssdn_middle": Budget(400_000, 500_000_000, CLIP_10S, "DSSDN-M: 400K params, 500 MMACs / 10 s"),
    "dssdn_small": Budget(DCASE_MAX_PARAMS, DCASE_MAX_MACS, CLIP_1S, "DCASE 2022-24 Task 1 limit"),
    # DCASE 2025 Task 1 counts parameter bytes at the dtype held: 128,000 B at fp16 is 64,000 parameters
    "dssdn_tiny": Budget(DCASE2025_MAX_PARAM_BYTES // 2, DCASE_MAX_MACS, DCASE2025_INPUT,
                         "DCASE 2025 Task 1 limit at fp16 (128,000 B)"),
}
"""The budget of every DSSDN variant (DESIGN.md; dssdn_tiny: the DCASE 2025 rules of DESIGN.md)."""
