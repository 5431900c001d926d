"""Face-swap trainers: a registry of models, each built from a typed, saveable config.

Importing this package registers every trainer; use :func:`build_model` or ``MODELS``.
"""

# Explicit imports register each trainer; no file scanning.
from faceforge.plugins.model import (  # noqa: F401
    dfaker,
    dfl_h128,
    dfl_sae,
    iae,
    lightweight,
    original,
    quick,
)
from faceforge.plugins.model.base import (
    MODELS,
    FaceSwapModel,
    ModelConfig,
    ModelOutput,
    Side,
    build_model,
)

__all__ = ["MODELS", "FaceSwapModel", "ModelConfig", "ModelOutput", "Side", "build_model"]
