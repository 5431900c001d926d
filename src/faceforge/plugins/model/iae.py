"""Faceswap's ``iae`` trainer (intermediate auto-encoder): 64 px in and out.

A shared conv encoder feeds three dense "intermediate" networks: one per side and one for
both. A face is decoded from its side's intermediate concatenated with the shared one, by a
single decoder that both sides use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from faceforge.errors import UsageError
from faceforge.nn import ConvBlock, Dense, FlattenChannelsLast, ToFeatureMap
from faceforge.plugins.model.base import (
    MODELS,
    FaceDecoder,
    FaceSwapModel,
    ModelConfig,
    ModelOutput,
    Side,
)
from faceforge.plugins.model.original import build_upscale_decoder

__all__ = ["IAEConfig", "IAEModel"]


@dataclass
class IAEConfig(ModelConfig):
    """Faceswap ``iae`` widths.

    Attributes:
        input_size: face side in pixels (multiple of 16).
        encoder_filters: channels of the four 5x5 stride-2 conv blocks.
        encoder_dim: width of each intermediate's first dense layer; each intermediate ends
            in an ``input_size/16`` square map of ``encoder_dim/2`` channels, so the decoder
            input (own + shared) has ``encoder_dim`` channels.
        decoder_filters: channels of each decoder upscale block.
    """

    input_size: int = 64
    encoder_filters: tuple[int, ...] = (128, 256, 512, 1024)
    encoder_dim: int = 1024
    decoder_filters: tuple[int, ...] = (512, 256, 128, 64)

    @property
    def output_size(self) -> int:
        return self.input_size // 16 * 2 ** len(self.decoder_filters)

    def validate(self) -> None:
        super().validate()
        if self.input_size < 16 or self.input_size % 16 or len(self.encoder_filters) != 4:
            raise UsageError(
                "iae needs an input_size that is a multiple of 16 and four encoder_filters",
                f"got input_size={self.input_size}, encoder_filters={self.encoder_filters}",
            )
        if self.encoder_dim % 2 or min(*self.encoder_filters, *self.decoder_filters) < 1:
            raise UsageError("iae widths must be positive and encoder_dim even", "check config")


def _intermediate(config: IAEConfig) -> nn.Sequential:
    """Dense to the latent, dense back up, reshape to a square map of encoder_dim/2 channels."""
    size = config.input_size // 16
    half = config.encoder_dim // 2
    return nn.Sequential(
        Dense(size * size * config.encoder_filters[-1], config.encoder_dim),
        Dense(config.encoder_dim, size * size * half),
        ToFeatureMap(size, half),
    )


@MODELS.register("iae")
class IAEModel(FaceSwapModel):
    """Intermediate auto-encoder (about 117.8 M parameters at defaults)."""

    name = "iae"
    config_class = IAEConfig
    config: IAEConfig

    def __init__(self, config: IAEConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        layers: list[nn.Module] = []
        channels = 3
        for filters in cfg.encoder_filters:
            layers.append(ConvBlock(channels, filters))
            channels = filters
        layers.append(FlattenChannelsLast())
        self.encoder = nn.Sequential(*layers)
        self.inter_a = _intermediate(cfg)
        self.inter_b = _intermediate(cfg)
        self.inter_both = _intermediate(cfg)
        mask = (
            build_upscale_decoder(cfg.encoder_dim, cfg.decoder_filters, 1)
            if cfg.learn_mask
            else None
        )
        self.decoder = FaceDecoder(
            build_upscale_decoder(cfg.encoder_dim, cfg.decoder_filters, 3), mask
        )

    def forward(self, faces: Tensor, side: Side) -> ModelOutput:
        self._check_side(side)
        features = self.encoder(faces)
        inter = self.inter_a if side == "a" else self.inter_b
        latent = torch.cat([inter(features), self.inter_both(features)], dim=1)
        return self.decoder(latent)
