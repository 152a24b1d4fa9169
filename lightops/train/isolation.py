"""Keeping a library call from changing process-wide state: thread count and the global random generators.

Training seeds the global torch, numpy and python generators (weight initialisation draws from them, and their
states are saved in every checkpoint so that ``--resume`` is exact) and may set the intra-op thread count. Called
from Python, :func:`lightops.train.train` runs inside :func:`isolated_state`, so the caller finds both as it left
them.
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch

__all__ = ["get_rng_state", "set_rng_state", "isolated_state"]


def get_rng_state() -> Dict[str, Any]:
    """States of the global generators: torch (CPU, and CUDA when initialised), numpy and python ``random``."""
    state: Dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the states :func:`get_rng_state` returned (a missing CUDA entry is skipped)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def isolated_state(threads: Optional[int] = None) -> Iterator[None]:
    """Run the body with ``threads`` intra-op threads (None: unchanged); restore the thread count and the global
    generators' states afterwards, whatever the body did to them."""
    saved_threads, saved_rng = torch.get_num_threads(), get_rng_state()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved_threads)
        set_rng_state(saved_rng)
