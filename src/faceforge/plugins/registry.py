"""A tiny plugin registry: plugins register with a decorator; unknown names list valid ones.

A registry can also be told where its plugins live (`known`: name -> "module:attribute"). Those
are listed by `names()` and described by `summary()` without being imported (a trainer's module
imports torch: seconds on a small CPU, which the option definitions, --help and the GUI's forms
do not need), and imported by `get()` when one is used; importing the module registers it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from faceforge.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps plugin names to factories for one extraction/training stage."""

    def __init__(self, kind: str, known: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._known = dict(known or {})

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} plugin {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._known:
            importlib.import_module(self._known[name].partition(":")[0])
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise UsageError(
                f"unknown {self.kind} {name!r}", f"choose one of: {valid}"
            ) from None

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._known))

    def summary(self, name: str) -> str:
        """The first line of the plugin's docstring: what --help and the GUI say about it."""
        if name in self._entries or name not in self._known:
            doc = inspect.getdoc(self.get(name)) or ""
        else:
            doc = _docstring(self._known[name])
        return doc.split("\n", 1)[0].strip().rstrip(".")

    def where(self, name: str) -> str | None:
        """The "module:attribute" a known plugin was declared at (None for others)."""
        return self._known.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._known


def _docstring(location: str) -> str:
    """The docstring of a module-level class or function, read from its source file."""
    module, _, attribute = location.partition(":")
    spec = importlib.util.find_spec(module)
    source = spec.loader.get_source(module) if spec is not None and spec.loader else None
    if not source:
        return ""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == attribute:
            return inspect.cleandoc(ast.get_docstring(node) or "")
    return ""
