"""Time rolling: a random circular shift of each waveform (the DCASE 2025 Task 1 baseline rolls by up to 0.1 s)."""
from typing import Optional

import torch

from ..validation import check_float, check_int

__all__ = ["TimeRoll"]


class TimeRoll:
    """Shift each waveform circularly by a random number of samples.

    Args:
        p: probability that an example is rolled.
        max_shift: largest shift in samples, either way (None: the whole length). ``lightops train --roll`` uses
            ``roll_seconds`` (0.1 s, the DCASE 2025 baseline's ``roll_sec``).

    Shape:
        ``(N,)`` or ``(B, N)`` -> the same; picklable, for DataLoader workers.
    """

    def __init__(self, p: float = 1.0, max_shift: Optional[int] = None) -> None:
        try:
            check_float(p, "p", minimum=0.0, maximum=1.0)
            check_int(max_shift, "max_shift", minimum=0, optional=True)
        except (TypeError, ValueError) as e:
            raise ValueError(f"TimeRoll: {e}") from None
        self.p, self.max_shift = float(p), max_shift

    def __call__(self, waveform: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Roll ``waveform`` ``(N,)`` or ``(B, N)``, drawing from ``generator``."""
        if waveform.dim() not in (1, 2):
            raise ValueError(f"TimeRoll: expected a waveform (N,) or a batch (B, N), got shape {list(waveform.shape)}")
        x = waveform.unsqueeze(0) if waveform.dim() == 1 else waveform
        n = x.shape[1]
        limit = n if self.max_shift is None else min(self.max_shift, n)
        out = x.clone()
        for i in range(x.shape[0]):
            if self.p < 1.0 and float(torch.rand((), generator=generator)) >= self.p:
                continue
            shift = int(torch.randint(-limit, limit + 1, (1,), generator=generator)) if limit else 0
            out[i] = torch.roll(x[i], shift)
        return out[0] if waveform.dim() == 1 else out

    def __repr__(self) -> str:
        return f"TimeRoll(p={self.p}, max_shift={self.max_shift})"
