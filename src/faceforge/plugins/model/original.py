"""Faceswap's ``original`` trainer: 64 px in and out, shared encoder, one decoder per side.

The same encoder → dense bottleneck → upscale shape also underlies ``lightweight``,
``dfl-h128`` and our ``quick`` preset; they reuse :class:`AutoEncoder` with other widths.
At defaults this model has exactly 82,062,470 parameters, as in Faceswap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from faceforge.errors import UsageError
from faceforge.nn import ConvBlock, DenseBottleneck, OutputConv, UpscaleBlock
from faceforge.plugins.model.base import (
    MODELS,
    FaceDecoder,
    FaceSwapModel,
    ModelConfig,
    ModelOutput,
    Side,
)

__all__ = [
    "AutoEncoder",
    "AutoEncoderConfig",
    "Layout",
    "OriginalConfig",
    "OriginalModel",
    "build_encoder",
    "build_upscale_decoder",
]


class Layout(NamedTuple):
    """The effective widths an :class:`AutoEncoder` is built from (after lowmem rules)."""

    input_size: int
    encoder_filters: tuple[int, ...]
    encoder_dim: int
    dense_size: int
    dense_filters: int
    encoder_upscale_filters: int
    decoder_filters: tuple[int, ...]


@dataclass
class AutoEncoderConfig(ModelConfig):
    """Widths of the conv encoder → dense bottleneck → pixel-shuffle decoder family.

    Attributes:
        input_size: face side in pixels; must be a multiple of 16.
        encoder_filters: channels of each 5x5 stride-2 conv block (each halves the size).
        encoder_dim: width of the first dense layer (the latent code).
        dense_filters: channels of the ``input_size/16`` square map the second dense layer
            is reshaped to.
        encoder_upscale_filters: channels after the encoder's closing upscale block.
        decoder_filters: channels of each decoder upscale block (each doubles the size).
    """

    input_size: int = 64
    encoder_filters: tuple[int, ...] = (128, 256, 512, 1024)
    encoder_dim: int = 1024
    dense_filters: int = 1024
    encoder_upscale_filters: int = 512
    decoder_filters: tuple[int, ...] = (256, 128, 64)

    @property
    def output_size(self) -> int:
        return self.layout().input_size // 8 * 2 ** len(self.layout().decoder_filters)

    def layout(self) -> Layout:
        return Layout(
            input_size=self.input_size,
            encoder_filters=tuple(self.encoder_filters),
            encoder_dim=self.encoder_dim,
            dense_size=self.input_size // 16,
            dense_filters=self.dense_filters,
            encoder_upscale_filters=self.encoder_upscale_filters,
            decoder_filters=tuple(self.decoder_filters),
        )

    def validate(self) -> None:
        super().validate()
        layout = self.layout()
        if layout.input_size < 16 or layout.input_size % 16:
            raise UsageError(
                f"input_size must be a positive multiple of 16, got {layout.input_size}",
                "use 64, 128 or 256",
            )
        if layout.input_size % 2 ** len(layout.encoder_filters):
            raise UsageError(
                f"input_size {layout.input_size} cannot be halved "
                f"{len(layout.encoder_filters)} times",
                "use fewer encoder_filters or a larger input_size",
            )
        widths = (
            *layout.encoder_filters,
            layout.encoder_dim,
            layout.dense_filters,
            layout.encoder_upscale_filters,
            *layout.decoder_filters,
        )
        if not layout.encoder_filters or not layout.decoder_filters or min(widths) < 1:
            raise UsageError(
                "every filter count and encoder_dim must be a positive integer",
                "check encoder_filters, decoder_filters, encoder_dim and dense_filters",
            )


@dataclass
class OriginalConfig(AutoEncoderConfig):
    """Faceswap ``original`` options.

    Attributes:
        lowmem: Faceswap's low-memory mode: drop the last encoder conv block and halve
            ``encoder_dim``. Models saved with and without it are not interchangeable.
    """

    lowmem: bool = False

    def layout(self) -> Layout:
        layout = super().layout()
        if not self.lowmem:
            return layout
        return layout._replace(
            encoder_filters=layout.encoder_filters[:-1], encoder_dim=layout.encoder_dim // 2
        )


def build_encoder(layout: Layout, in_channels: int = 3) -> nn.Sequential:
    """Conv blocks, dense bottleneck and one upscale: faces → (2*dense_size)² feature map."""
    layers: list[nn.Module] = []
    channels = in_channels
    for filters in layout.encoder_filters:
        layers.append(ConvBlock(channels, filters))
        channels = filters
    conv_size = layout.input_size // 2 ** len(layout.encoder_filters)
    layers.append(
        DenseBottleneck(
            conv_size * conv_size * channels,
            layout.encoder_dim,
            layout.dense_size,
            layout.dense_filters,
        )
    )
    layers.append(UpscaleBlock(layout.dense_filters, layout.encoder_upscale_filters))
    return nn.Sequential(*layers)


def build_upscale_decoder(
    in_channels: int, filters: tuple[int, ...], out_channels: int
) -> nn.Sequential:
    """Upscale blocks then a 5x5 sigmoid output conv (a face or a mask branch)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for width in filters:
        layers.append(UpscaleBlock(channels, width))
        channels = width
    layers.append(OutputConv(channels, out_channels))
    return nn.Sequential(*layers)


class AutoEncoder(FaceSwapModel):
    """Shared encoder, ``decoder_a`` and ``decoder_b`` built from an :class:`AutoEncoderConfig`."""

    config_class = AutoEncoderConfig
    config: AutoEncoderConfig

    def __init__(self, config: AutoEncoderConfig | None = None) -> None:
        super().__init__(config)
        layout = self.config.layout()
        self.encoder = build_encoder(layout)
        self.decoder_a = self._build_decoder(layout)
        self.decoder_b = self._build_decoder(layout)

    def _build_decoder(self, layout: Layout) -> FaceDecoder:
        def branch(out_channels: int) -> nn.Sequential:
            return build_upscale_decoder(
                layout.encoder_upscale_filters, layout.decoder_filters, out_channels
            )

        return FaceDecoder(branch(3), branch(1) if self.config.learn_mask else None)

    def forward(self, faces: Tensor, side: Side) -> ModelOutput:
        self._check_side(side)
        decoder = self.decoder_a if side == "a" else self.decoder_b
        return decoder(self.encoder(faces))

    def forward_pair(self, faces_a: Tensor, faces_b: Tensor) -> tuple[ModelOutput, ModelOutput]:
        if faces_a.shape[1:] != faces_b.shape[1:]:
            return super().forward_pair(faces_a, faces_b)
        # No layer mixes samples, so one encoder pass over both batches is the same maths
        # (torch.cat keeps the batches' channels-last layout).
        both = torch.cat([faces_a, faces_b])
        encoded_a, encoded_b = self.encoder(both).split([len(faces_a), len(faces_b)])
        return self.decoder_a(encoded_a), self.decoder_b(encoded_b)


@MODELS.register("original")
class OriginalModel(AutoEncoder):
    """Faceswap's original trainer (64 px, 82.06 M parameters at defaults)."""

    name = "original"
    config_class = OriginalConfig
