"""Model factory over timm's registry: lightops' models are timm models, listed and built by name.

:func:`create_model` builds lightops' own models; :func:`build_model` any model a checkpoint may name (lightops'
models, the reference CNNs, timm's), with a checkpoint's stored arguments; :func:`build_frontend` the front end a
model expects.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Dict, List, Optional

import timm
import torch.nn as nn
from timm.models import is_model, model_entrypoint

from . import models as _models  # noqa: F401  (registers the models)
from .audio import FrontEnd
from .models import DSSDNCfg
from .models.dssdn_cfg import OVERRIDES

__all__ = ["create_model", "list_models", "is_lightops_model", "known_models", "build_model", "build_frontend",
           "model_label", "architecture_of", "architecture_kwargs"]

# DSSDN arguments that only shape its architecture: a stored architecture already holds what they did
_ARCHITECTURE_ARGS = frozenset(("cfg", "op", "width", *OVERRIDES))


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


def known_models() -> List[str]:
    """Names :func:`build_model` knows besides timm's: lightops' models, then the reference models."""
    family = list_models()
    return family + [n for n in list_models(baselines=True) if n not in family]


def model_label(name: str, kwargs: Optional[Dict[str, Any]] = None) -> str:
    """``name[key=value,...]``, the benchmarks' spelling of a model with arguments, in the order given
    (``num_classes`` left out)."""
    shown = {k: v for k, v in (kwargs or {}).items() if k != "num_classes"}
    return name + (f"[{','.join(f'{k}={v}' for k, v in shown.items())}]" if shown else "")


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name: a lightops model (reference CNNs included) or any timm model.

    timm models other than lightops' get ``in_chans=1`` unless given (the log-mel has one channel). A DSSDN
    ``cfg`` may be given as the dict of ``DSSDNCfg.to_dict()`` (as checkpoints store it), so
    ``build_model(ckpt["model"], **ckpt["model_kwargs"])`` rebuilds any checkpoint's network.

    Raises:
        ValueError: unknown name (the message lists the known ones) or arguments the model does not take.
    """
    if not isinstance(name, str) or not (is_lightops_model(name) or timm.is_model(name)):
        raise ValueError(f"unknown model {name!r}; expected one of {known_models()} or a timm model name "
                         f"(timm.list_models())")
    if isinstance(kwargs.get("cfg"), dict):  # a DSSDNCfg stored as JSON in a checkpoint's model_kwargs
        kwargs = dict(kwargs, cfg=DSSDNCfg.from_dict(kwargs["cfg"]))
    try:
        if is_lightops_model(name):
            return create_model(name, **kwargs)
        return timm.create_model(name, **{"in_chans": 1, **kwargs})
    except TypeError as e:
        raise ValueError(f"model {name!r} rejected its arguments {kwargs}: {e}") from e


def architecture_of(model: nn.Module) -> Optional[Dict[str, Any]]:
    """The architecture a model was built with, as plain values (a DSSDN's final ``DSSDNCfg.to_dict()``: options and
    width applied), or None for a model without one (its name and arguments rebuild it)."""
    cfg = getattr(model, "cfg", None)
    return cfg.to_dict() if isinstance(cfg, DSSDNCfg) else None


def architecture_kwargs(kwargs: Dict[str, Any], architecture: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """:func:`build_model` arguments that rebuild a stored ``architecture`` (:func:`architecture_of`): ``kwargs``
    without the arguments it already holds, plus ``cfg``; ``kwargs`` unchanged without one. A checkpoint so
    rebuilt keeps its network when a registered default of its name changes later."""
    if not architecture:
        return dict(kwargs)
    return {**{k: v for k, v in kwargs.items() if k not in _ARCHITECTURE_ARGS}, "cfg": dict(architecture)}


def build_frontend(frontend: Optional[Dict[str, Any]] = None, model: Optional[nn.Module] = None,
                   **overrides: Any) -> FrontEnd:
    """The :class:`~lightops.audio.FrontEnd` a model expects, in eval mode.

    Args:
        frontend: a checkpoint's ``frontend`` settings (log-mel and normalisation), or None.
        model: the model, whose ``pretrained_cfg`` gives the log-mel defaults (no normalisation) where
            ``frontend`` is silent.
        overrides: settings that win over both (e.g. ``n_mels``).
    """
    cfg = {k: v for k, v in (getattr(model, "pretrained_cfg", None) or {}).items()
           if k in ("sample_rate", "n_fft", "hop_length", "n_mels")}
    cfg.update(frontend or {})
    return FrontEnd.from_config(cfg, **overrides).eval()
