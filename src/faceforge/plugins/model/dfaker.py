"""Faceswap's ``dfaker`` trainer: the original encoder on a half-size input, and decoders
that double the resolution through upscale + residual stages (64 → 128 px by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from faceforge.errors import UsageError
from faceforge.nn import OutputConv, ResidualBlock, UpscaleBlock
from faceforge.plugins.model.base import (
    MODELS,
    FaceDecoder,
    FaceSwapModel,
    ModelConfig,
    ModelOutput,
    Side,
)
from faceforge.plugins.model.original import Layout, build_encoder, build_upscale_decoder

__all__ = ["DfakerConfig", "DfakerModel"]

# Channels after the encoder (8x8 map) and of the decoder's last plain upscale block.
_ENCODER_OUT = 512
_FINAL_UPSCALE = 64
# Dfaker's first residual kernel is drawn from N(0, 0.02).
_RESIDUAL_INIT_STD = 0.02


@dataclass
class DfakerConfig(ModelConfig):
    """Faceswap ``dfaker`` options.

    Attributes:
        output_size: 128 or 256 px; the input is half of it. 256 adds a 1024-channel stage.
    """

    output_size: int = 128  # type: ignore[assignment]  # a field here, derived elsewhere

    @property
    def input_size(self) -> int:
        return self.output_size // 2

    @property
    def residual_filters(self) -> tuple[int, ...]:
        """Widths of the upscale + residual decoder stages."""
        return (1024, 512, 256, 128) if self.output_size == 256 else (512, 256, 128)

    def layout(self) -> Layout:
        """The original encoder's widths; its dense map stays 4x4 at either size."""
        return Layout(
            input_size=self.input_size,
            encoder_filters=(128, 256, 512, 1024),
            encoder_dim=1024,
            dense_size=4,
            dense_filters=1024,
            encoder_upscale_filters=_ENCODER_OUT,
            decoder_filters=(),
        )

    def validate(self) -> None:
        super().validate()
        if self.output_size not in (128, 256):
            raise UsageError(
                f"dfaker output_size must be 128 or 256, got {self.output_size}",
                "set output_size to 128 or 256",
            )


def _face_branch(config: DfakerConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = _ENCODER_OUT
    for width in config.residual_filters:
        layers.append(UpscaleBlock(channels, width, relu_alpha=0.2))
        layers.append(ResidualBlock(width, first_init_std=_RESIDUAL_INIT_STD))
        channels = width
    layers.append(UpscaleBlock(channels, _FINAL_UPSCALE))
    layers.append(OutputConv(_FINAL_UPSCALE, 3))
    return nn.Sequential(*layers)


@MODELS.register("dfaker")
class DfakerModel(FaceSwapModel):
    """Dfaker (64 → 128 px, about 113.3 M parameters at defaults)."""

    name = "dfaker"
    config_class = DfakerConfig
    config: DfakerConfig

    def __init__(self, config: DfakerConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = build_encoder(self.config.layout())
        self.decoder_a = self._build_decoder()
        self.decoder_b = self._build_decoder()

    def _build_decoder(self) -> FaceDecoder:
        cfg = self.config
        mask = None
        if cfg.learn_mask:
            # The mask branch has the same upscale widths but no residual blocks.
            mask = build_upscale_decoder(_ENCODER_OUT, (*cfg.residual_filters, _FINAL_UPSCALE), 1)
        return FaceDecoder(_face_branch(cfg), mask)

    def forward(self, faces: Tensor, side: Side) -> ModelOutput:
        self._check_side(side)
        decoder = self.decoder_a if side == "a" else self.decoder_b
        return decoder(self.encoder(faces))
