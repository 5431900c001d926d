"""Face-swap trainers: a registry of models, each built from a typed, saveable config.

`MODELS` lists every trainer and describes it without importing it (a trainer's module imports
torch); `MODELS.get(name)` or :func:`build_model` imports the one asked for. The model classes
below load on first use for the same reason.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from faceforge.plugins.registry import Registry

if TYPE_CHECKING:
    from faceforge.plugins.model.base import FaceSwapModel

MODELS: Registry[type[FaceSwapModel]] = Registry("trainer", known={
    name: f"{__name__}.{module}:{attribute}" for name, module, attribute in (
        ("dfaker", "dfaker", "DfakerModel"),
        ("dfl-h128", "dfl_h128", "DflH128Model"),
        ("dfl-sae", "dfl_sae", "DflSAEModel"),
        ("iae", "iae", "IAEModel"),
        ("lightweight", "lightweight", "LightweightModel"),
        ("original", "original", "OriginalModel"),
        ("quick", "quick", "QuickModel"),
    )})

_FROM_BASE = ("FaceSwapModel", "ModelConfig", "ModelOutput", "Side", "build_model")

__all__ = ["MODELS", *_FROM_BASE]


def __getattr__(name: str) -> Any:
    if name not in _FROM_BASE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.base"), name)
