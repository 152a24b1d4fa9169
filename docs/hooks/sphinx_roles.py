"""Griffe extension: turn Sphinx roles in lightops' docstrings into links of the API reference.

The docstrings use ``:class:`SeparableConv2d```, ``:func:`~lightops.data.Clip``` and the like (readable in
``help()`` and IDEs). Markdown has no such roles, so this extension rewrites each into an optional
cross-reference, resolved in the scope of the documented object: a link where the target is rendered in the
API reference, plain inline code otherwise (never a build warning).
"""
from __future__ import annotations

import re
from typing import Any

import griffe

ROLE_RE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(?P<target>~?[\w.]+)(?:\(\))?`")


def _identifier(obj: griffe.Object, target: str) -> str:
    """Full path of ``target`` seen from ``obj``; ``target`` itself when it cannot be resolved."""
    if target.startswith("lightops"):
        return target
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.NameResolutionError, KeyError, AttributeError):
        return target
    return f"{path}.{rest}" if rest else path


def _rewrite(obj: griffe.Object, text: str) -> str:
    def repl(match: re.Match) -> str:
        target = match["target"]
        short = target.startswith("~")
        target = target.lstrip("~")
        title = target.rsplit(".", 1)[-1] if short else target
        return f'<autoref identifier="{_identifier(obj, target)}" optional><code>{title}</code></autoref>'

    return ROLE_RE.sub(repl, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Walk the package once it is loaded, so that names resolve across modules."""
        seen = set()

        def walk(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, obj.docstring.value)
            for member in obj.members.values():
                if not member.is_alias:
                    walk(member)

        walk(pkg)
