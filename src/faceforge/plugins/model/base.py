"""The trainer registry and the contract every face-swap model follows.

A model is a ``torch.nn.Module`` built from a typed, JSON-serialisable config dataclass. It maps
aligned faces (float NCHW RGB in [0, 1]) of either side to a reconstruction by that side's
decoder, and optionally a learned mask; both are sigmoid outputs in [0, 1].
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from torch import Tensor, nn

from faceforge.errors import UsageError
from faceforge.plugins.model import MODELS

__all__ = [
    "MODELS",
    "FaceDecoder",
    "FaceSwapModel",
    "ModelConfig",
    "ModelOutput",
    "Side",
    "build_model",
]

Side = Literal["a", "b"]
# A face tensor, or (face, mask) when the config has ``learn_mask``.
ModelOutput = Tensor | tuple[Tensor, Tensor]

ConfigT = TypeVar("ConfigT", bound="ModelConfig")



@dataclass
class ModelConfig:
    """Options shared by every trainer; subclasses add their architecture's options.

    Attributes:
        learn_mask: also train a mask decoder branch (Faceswap's ``learn_mask``, default off).
        learning_rate: the Adam learning rate this model is meant to train with.
    """

    learn_mask: bool = False
    learning_rate: float = 5e-5

    @property
    def input_size(self) -> int:
        """Side in pixels of the square face the encoder takes."""
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        """Side in pixels of the square face the decoders produce."""
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ``UsageError`` when options cannot build a model."""
        if self.learning_rate <= 0:
            raise UsageError(
                f"learning_rate must be positive, got {self.learning_rate}",
                "use a small positive value such as 5e-5",
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every option (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
        """Rebuild a config saved by :meth:`to_dict`; unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise UsageError(
                f"unknown {cls.__name__} option(s): {', '.join(unknown)}",
                f"valid options are: {', '.join(fields)}",
            )
        hints = typing.get_type_hints(cls)
        values = {
            key: tuple(value) if _is_tuple_type(hints[key]) and isinstance(value, list) else value
            for key, value in data.items()
        }
        for key, value in values.items():
            problem = _value_problem(value, hints[key])
            if problem:
                raise UsageError(f"{cls.__name__} option {key} is {value!r}: {problem}",
                                 "restore the model folder from its backups/ folder")
        config = cls(**values)
        config.validate()
        return config


#: No layer of any trainer is anywhere near this wide or this many layers deep; a saved config
#: claiming more is damaged, and building it would try to allocate terabytes.
MAX_LAYER_WIDTH = 16384
MAX_LAYERS = 16


def _value_problem(value: Any, hint: Any) -> str | None:
    """Why `value` cannot be a config value of type `hint`, or None (checked before any
    layer is built, so that a damaged config fails at once)."""
    kinds = typing.get_args(hint) if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else (hint,)
    if value is None:
        return None if type(None) in kinds else "a value is required"
    for kind in kinds:
        if kind is bool and isinstance(value, bool):
            return None
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return None if 0 <= value <= MAX_LAYER_WIDTH else (
                f"out of range (0 to {MAX_LAYER_WIDTH})")
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None if math.isfinite(value) else "not a finite number"
        if kind is str and isinstance(value, str):
            return None
        if typing.get_origin(kind) is tuple and isinstance(value, tuple):
            if not 0 < len(value) <= MAX_LAYERS:
                return f"needs 1 to {MAX_LAYERS} values"
            for item in value:
                problem = _value_problem(item, typing.get_args(kind)[0])
                if problem:
                    return problem
            return None
        if kind not in (bool, int, float, str) and typing.get_origin(kind) is not tuple:
            return None  # a type this check does not know: the config's validate() decides
    return f"expected {getattr(hint, '__name__', hint)}"


def _is_tuple_type(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple_type(arg) for arg in typing.get_args(hint))
    return False


class FaceDecoder(nn.Module):
    """A face branch and, when masks are learned, a parallel mask branch on the same input."""

    def __init__(self, face: nn.Module, mask: nn.Module | None = None) -> None:
        super().__init__()
        self.face = face
        self.mask = mask

    def forward(self, x: Tensor) -> ModelOutput:
        face = self.face(x)
        if self.mask is None:
            return face
        return face, self.mask(x)


class FaceSwapModel(nn.Module):
    """Base of every trainer: one shared encoder, a way to decode each side.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`forward`.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        config.validate()
        self.config = config

    @property
    def input_size(self) -> int:
        return self.config.input_size

    @property
    def output_size(self) -> int:
        return self.config.output_size

    @property
    def learn_mask(self) -> bool:
        return self.config.learn_mask

    def forward(self, faces: Tensor, side: Side) -> ModelOutput:  # pragma: no cover - abstract
        """Reconstruct ``faces`` with ``side``'s decoder: face, or (face, mask)."""
        raise NotImplementedError

    def forward_pair(self, faces_a: Tensor, faces_b: Tensor) -> tuple[ModelOutput, ModelOutput]:
        """Both sides' reconstructions in one call, as a training step needs them.

        Models whose encoder is shared override this to encode both batches as one, which
        gives the small-map layers twice the rows per matrix product.
        """
        return self(faces_a, "a"), self(faces_b, "b")

    def parameter_count(self) -> int:
        """Trainable parameters, counted as Keras' ``count_params`` does."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def contiguous_state_dict(self) -> dict[str, Tensor]:
        """State dict safe for ``safetensors.torch.save_file`` even after ``channels_last``."""
        return {key: value.contiguous() for key, value in self.state_dict().items()}

    @staticmethod
    def _check_side(side: str) -> None:
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")


def build_model(name: str, config: ModelConfig | dict[str, Any] | None = None) -> FaceSwapModel:
    """Build the registered trainer ``name`` from a config object, a saved dict or defaults."""
    model_class = MODELS.get(name)
    if isinstance(config, dict):
        config = model_class.config_class.from_dict(config)
    return model_class(config)
