"""What every benchmark shares: the clips (from :mod:`lightops.budgets`), the clip a model is judged on, the model
builder (:func:`lightops._factory.build_model`) and a line naming the machine."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Dict, Tuple

import torch
import torch.nn as nn

from lightops._factory import build_model
from lightops.budgets import BUDGETS, CLIP_1S, CLIP_10S

__all__ = ["ROOT", "CLIPS", "stated_clip", "stated_input", "build", "machine"]

ROOT = Path(__file__).resolve().parents[1]
CLIPS: Dict[str, Tuple[int, int, int]] = {"1s": CLIP_1S, "10s": CLIP_10S}
"""Clip key (as the benchmark JSON and the report use it) -> ``(C, F, T)`` of the default front end."""


def stated_clip(name: str) -> str:
    """The key of :data:`CLIPS` a model's budget is stated on (``BUDGETS``): the clip of its budget's input, else the
    clip of the same length (a budget on another front end's input); ``"1s"`` (DCASE's) for models without one."""
    budget = BUDGETS.get(name)
    if budget is None:
        return "1s"
    for key, size in CLIPS.items():
        if tuple(budget.input_size) == size:
            return key
    return budget.clip.split("-", 1)[0] + "s"


def stated_input(name: str) -> Tuple[int, int, int]:
    """``(C, F, T)`` a model's budget is stated on (``BUDGETS``), else that of :func:`stated_clip`."""
    budget = BUDGETS.get(name)
    return tuple(budget.input_size) if budget is not None else CLIPS[stated_clip(name)]


def build(name: str, **kwargs: Any) -> nn.Module:
    """A model in eval mode, seeded 0: any name :func:`lightops._factory.build_model` knows, 10 classes."""
    torch.manual_seed(0)
    return build_model(name, **{"num_classes": 10, **kwargs}).eval()


def machine() -> str:
    """One line naming the machine: CPU model, cores, libc, torch and Python versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    libc = " ".join(platform.libc_ver()).strip() or "unknown libc"
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, {libc}, torch "
            f"{torch.__version__}, Python {platform.python_version()}")
