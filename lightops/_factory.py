"""Model factory over timm's registry: lightops' models are timm models, listed and built by name."""
from __future__ import annotations

import fnmatch
from typing import Any, List

import timm
import torch.nn as nn
from timm.models import is_model, model_entrypoint

from . import models as _models  # noqa: F401  (registers the models)

__all__ = ["create_model", "list_models", "is_lightops_model"]


def is_lightops_model(name: str) -> bool:
    """Whether ``name`` is registered in timm by a lightops module."""
    return is_model(name) and model_entrypoint(name).__module__.startswith("lightops.")


def list_models(pattern: str = "*", *, baselines: bool = False) -> List[str]:
    """lightops' models in timm's registry whose names match the shell-style ``pattern``, sorted.

    Args:
        pattern: shell-style filter, e.g. ``"dssdn*"``.
        baselines: include the reference models (:data:`lightops.models.BASELINE_MODELS`) registered for
            comparisons, such as the DCASE baseline CNN.
    """
    return sorted(n for n in timm.list_models(pattern) if fnmatch.fnmatch(n, pattern) and is_lightops_model(n)
                  and (baselines or n not in _models.BASELINE_MODELS))


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a lightops model by name (``timm.create_model`` with a clear error for unknown names).

    kwargs go to the model (``num_classes``, ``in_chans``, ``drop_rate``, ``op``, ``width``, ``cfg``, ...);
    unknown ones raise ``TypeError``.
    """
    if not isinstance(name, str) or not is_lightops_model(name):
        raise ValueError(f"unknown model {name!r}; expected one of {list_models()}")
    return timm.create_model(name, **kwargs)
