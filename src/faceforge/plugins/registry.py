"""A tiny plugin registry: plugins register with a decorator; unknown names list valid ones."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Generic, TypeVar

from faceforge.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps plugin names to factories for one extraction/training stage."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} plugin {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise UsageError(
                f"unknown {self.kind} {name!r}", f"choose one of: {valid}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def summary(self, name: str) -> str:
        """The first line of the plugin's docstring: what --help and the GUI say about it."""
        doc = inspect.getdoc(self.get(name)) or ""
        return doc.split("\n", 1)[0].strip().rstrip(".")

    def __contains__(self, name: object) -> bool:
        return name in self._entries
