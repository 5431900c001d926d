"""Training: the loop and its step, face sets, sampler, augmentation, callbacks, checkpoints and
the choice of precision and kernels. `train(config, on_event, stop)` is the library call the CLI
and the GUI make.

The names below load on first use, so that `convert` can import `training.checkpoint` and
`training.precision` without the loop and everything it brings.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"TrainConfig": "config", "TrainResult": "loop", "TrainingRun": "loop",
            "train": "loop"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
