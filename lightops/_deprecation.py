"""Old import paths that keep working with a ``DeprecationWarning`` after a name moved to another module."""
import importlib
import warnings
from typing import Any, Callable, Dict


def moved_names(module: str, moves: Dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` that resolves each old name in ``moves`` from its new home.

    Args:
        module: the module that used to define the names (``__name__`` of the caller).
        moves: old name -> ``"new.module:new_name"`` (``":new_name"`` may be left out when the name is unchanged).

    Returns:
        The ``__getattr__`` function; accessing a moved name warns once per access site and returns the object.
    """

    def __getattr__(name: str) -> Any:
        if name not in moves:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, _, new_name = moves[name].partition(":")
        new_name = new_name or name
        warnings.warn(f"{module}.{name} moved to {target}.{new_name}; the old path will be removed in a future "
                      f"release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(target), new_name)

    return __getattr__
