"""Every public module, class, function and method of lightops has a docstring (the API reference needs them).

Public means: a module not starting with ``_``; the names in its ``__all__`` (or, without ``__all__``, the
functions and classes it defines whose names do not start with ``_``); the methods, properties, class- and
static methods a public lightops class defines itself whose names do not start with ``_``. A method that
overrides a documented one of a base class outside lightops (``extra_repr`` of ``nn.Module``) may inherit
that docstring.
"""
import importlib
import inspect
import pkgutil
import types
from typing import Iterator, List, Tuple

import pytest
import torch

import lightops


def _public_modules() -> List[str]:
    names = ["lightops"]
    for info in pkgutil.walk_packages(lightops.__path__, prefix="lightops."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


def _public_names(module) -> List[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, obj in vars(module).items() if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__]


def _members(cls: type) -> Iterator[Tuple[str, object]]:
    """Public callables and properties ``cls`` defines itself (not inherited)."""
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, (staticmethod, classmethod)):
            attr = attr.__func__
        if inspect.isfunction(attr) or isinstance(attr, property):
            yield name, attr


def _inherits_foreign_doc(cls: type, name: str) -> bool:
    """Whether ``name`` overrides a documented attribute of a base class defined outside lightops."""
    for base in cls.__mro__[1:]:
        if name in vars(base) and not base.__module__.startswith("lightops"):
            return bool(inspect.getdoc(vars(base)[name]))
    return False


def _missing(module_name: str) -> List[str]:
    return _missing_in(importlib.import_module(module_name))


def _missing_in(module) -> List[str]:
    module_name = module.__name__
    missing = [] if (module.__doc__ or "").strip() else [f"{module_name} (module)"]
    for name in _public_names(module):
        obj = getattr(module, name, None)
        if obj is None:
            missing.append(f"{module_name}.{name} (in __all__ but not defined)")
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or inspect.ismodule(obj):
            continue  # constants and re-exported modules: documented where they are defined
        where = f"{obj.__module__}.{obj.__qualname__}"
        if not (obj.__doc__ or "").strip():
            missing.append(where)
        if inspect.isclass(obj) and obj.__module__.startswith("lightops"):
            for attr_name, attr in _members(obj):
                if not (attr.__doc__ or "").strip() and not _inherits_foreign_doc(obj, attr_name):
                    missing.append(f"{where}.{attr_name}")
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_public_api_has_docstrings(module_name):
    missing = _missing(module_name)
    assert not missing, "public names without a docstring:\n  " + "\n  ".join(missing)


def test_check_flags_undocumented_names():
    mod = types.ModuleType("lightops_fake", "A module.")

    def documented():
        """Yes."""

    def bare():
        pass

    class Thing(torch.nn.Module):
        """A class."""

        def method(self):
            pass

        def extra_repr(self):
            return ""

    for obj in (documented, bare, Thing):
        obj.__module__ = "lightops_fake"
    mod.documented, mod.bare, mod.Thing, mod.__all__ = documented, bare, Thing, ["documented", "bare", "Thing"]
    missing = _missing_in(mod)
    assert any(m.endswith(".bare") for m in missing) and any(m.endswith("Thing.method") for m in missing)
    assert len(missing) == 2, missing


def test_walk_finds_the_packages():
    assert {"lightops.ops", "lightops.blocks", "lightops.stems", "lightops.models"} <= set(MODULES)
