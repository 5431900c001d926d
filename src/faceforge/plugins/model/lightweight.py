"""Faceswap's ``lightweight`` trainer: the original shape cut down for ~2 GB GPUs.

Three encoder conv blocks, a 512-wide latent, and a wider three-step decoder (512-256-128).
"""

from __future__ import annotations

from dataclasses import dataclass

from faceforge.plugins.model.base import MODELS
from faceforge.plugins.model.original import AutoEncoder, AutoEncoderConfig

__all__ = ["LightweightConfig", "LightweightModel"]


@dataclass
class LightweightConfig(AutoEncoderConfig):
    """Faceswap ``lightweight`` widths (64 px in and out); see :class:`AutoEncoderConfig`."""

    input_size: int = 64
    encoder_filters: tuple[int, ...] = (128, 256, 512)
    encoder_dim: int = 512
    dense_filters: int = 512
    encoder_upscale_filters: int = 256
    decoder_filters: tuple[int, ...] = (512, 256, 128)


@MODELS.register("lightweight")
class LightweightModel(AutoEncoder):
    """Faceswap's lightweight trainer (about 51.1 M parameters at defaults)."""

    name = "lightweight"
    config_class = LightweightConfig
