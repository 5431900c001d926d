"""Import gradio without its type-stub writer.

Each time gradio is imported, its component metaclass rewrites the `.pyi` type stub of every
component class: it reads the class's source file, parses it twice with `ast` and renders a
template, 81 times. On a 2-core CPU that is about 3.5 s of a 5 s import, and a write into the
installed package at every start of the GUI. The stubs serve only type checkers, so the GUI
replaces that one function with a no-op as soon as its module has run, before any component
class is made. Should a gradio version rename or drop the function, nothing is changed and the
import is merely slower.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_MODULE = "gradio.component_meta"
_STUB_WRITER = "create_or_modify_pyi"


def _no_stub(*_args: Any, **_kwargs: Any) -> None:
    return None


class _WithoutStubWriter(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        if callable(getattr(module, _STUB_WRITER, None)):
            setattr(module, _STUB_WRITER, _no_stub)

    def __getattr__(self, name: str) -> Any:  # get_source (tracebacks), resource readers...
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _WithoutStubWriter(spec.loader)
        return spec


def skip_stub_writing() -> None:
    """Make the next import of gradio skip rewriting its stubs (no effect once imported)."""
    if _MODULE in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
