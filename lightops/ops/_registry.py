"""Operator registry: the one registry timm has no equivalent for.

Models live in timm's own registry; operators live here so that blocks pick them by name
(``DSSDB(..., op="osc")``) and a user's own operator plugs in the same way as the built-ins.
"""
from __future__ import annotations

import fnmatch
from typing import Callable, Dict, List, Type, TypeVar

import torch.nn as nn

__all__ = ["register_op", "create_op", "list_ops", "get_op_class"]

_OPS: Dict[str, Type[nn.Module]] = {}
T = TypeVar("T", bound=Type[nn.Module])


def register_op(name: str, *, override: bool = False) -> Callable[[T], T]:
    """Class decorator registering an operator under ``name``.

    The class must be an ``nn.Module`` constructed as ``cls(in_chs, out_chs, *, stride=1, dilation=1,
    bias=False, norm_layer=None, act_layer=None, **own_options)`` with a ``macs((C, F, T)) -> int`` method;
    subclassing :class:`lightops.ops.SeparableOpBase` provides the rest.

    Args:
        name: lower-case registry key (e.g. ``"my_op"``).
        override: replace an existing registration instead of raising.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"register_op: name must be a non-empty string without surrounding spaces, got {name!r}")
    key = name.lower()

    def decorator(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TypeError(f"register_op({name!r}): expected an nn.Module subclass, got {cls!r}")
        if not callable(getattr(cls, "macs", None)):
            raise TypeError(f"register_op({name!r}): {cls.__name__} must define macs(input_size) -> int")
        if key in _OPS and not override and _OPS[key] is not cls:
            raise ValueError(f"register_op: an operator named {key!r} is already registered "
                             f"({_OPS[key].__name__}); pass override=True to replace it")
        _OPS[key] = cls
        cls.op_name = key
        return cls

    return decorator


def list_ops(pattern: str = "*") -> List[str]:
    """Registered operator names matching the shell-style ``pattern``, sorted."""
    return sorted(n for n in _OPS if fnmatch.fnmatch(n, pattern))


def get_op_class(name: str) -> Type[nn.Module]:
    """The class registered under ``name``; ``ValueError`` listing the known names otherwise."""
    if not isinstance(name, str) or name.lower() not in _OPS:
        raise ValueError(f"unknown operator {name!r}; expected one of {list_ops()} "
                         f"(register your own with lightops.register_op)")
    return _OPS[name.lower()]


def create_op(name: str, in_chs: int, out_chs: int, **kwargs) -> nn.Module:
    """Build the operator registered as ``name``: ``create_op("osc", 64, 64, stride=(2, 1))``."""
    return get_op_class(name)(in_chs, out_chs, **kwargs)
