"""Faceswap's ``dfl-sae`` trainer (after DeepFaceLab's SAE), in its ``df`` and ``liae`` forms.

``df``: shared encoder with a dense bottleneck, one decoder per side. ``liae``: the encoder
stops at the flattened conv features; an intermediate for B and one shared by both sides
produce the latent map (A uses the shared one twice), decoded by a single shared decoder.
Decoder stages are an upscale followed by two residual blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from faceforge.errors import UsageError
from faceforge.nn import (
    ConvBlock,
    Dense,
    FlattenChannelsLast,
    OutputConv,
    ResidualBlock,
    ToFeatureMap,
    UpscaleBlock,
)
from faceforge.plugins.model.base import (
    MODELS,
    FaceSwapModel,
    ModelConfig,
    ModelOutput,
    Side,
)
from faceforge.plugins.model.original import Layout, build_encoder, build_upscale_decoder

__all__ = ["DflSAEConfig", "DflSAEModel", "SAEDecoder"]

ARCHITECTURES = ("df", "liae")


@dataclass
class DflSAEConfig(ModelConfig):
    """Faceswap ``dfl-sae`` options.

    Attributes:
        input_size: face side in pixels, in and out; a multiple of 16 (64 to 256).
        architecture: ``"df"`` (keeps faces natural) or ``"liae"`` (copes with differently
            shaped faces).
        autoencoder_dims: latent width; 0 picks the architecture's default (df 512, liae 256).
        encoder_dims: encoder width per colour channel (conv blocks are 1, 2, 4, 8 times
            ``3 * encoder_dims``).
        decoder_dims: decoder width per colour channel (stages are 8, 4, 2 times
            ``3 * decoder_dims``).
        multiscale_decoder: also output faces at 1/4 and 1/2 size for a multi-scale loss.
    """

    input_size: int = 128
    architecture: str = "df"
    autoencoder_dims: int = 0
    encoder_dims: int = 42
    decoder_dims: int = 21
    multiscale_decoder: bool = False

    @property
    def output_size(self) -> int:
        return self.input_size

    @property
    def ae_dims(self) -> int:
        """The latent width actually used."""
        if self.autoencoder_dims:
            return self.autoencoder_dims
        return 256 if self.architecture == "liae" else 512

    @property
    def encoder_filters(self) -> tuple[int, ...]:
        base = 3 * self.encoder_dims
        return (base, base * 2, base * 4, base * 8)

    @property
    def decoder_filters(self) -> tuple[int, ...]:
        base = 3 * self.decoder_dims
        return (base * 8, base * 4, base * 2)

    def validate(self) -> None:
        super().validate()
        if self.architecture not in ARCHITECTURES:
            raise UsageError(
                f"unknown dfl-sae architecture {self.architecture!r}",
                f"choose one of: {', '.join(ARCHITECTURES)}",
            )
        if self.input_size < 16 or self.input_size % 16:
            raise UsageError(
                f"dfl-sae input_size must be a multiple of 16, got {self.input_size}",
                "use 64, 128, 192 or 256",
            )
        if min(self.encoder_dims, self.decoder_dims) < 1 or self.autoencoder_dims < 0:
            raise UsageError(
                "dfl-sae encoder_dims and decoder_dims must be positive, autoencoder_dims >= 0",
                "check the dfl-sae options",
            )


class SAEDecoder(nn.Module):
    """Three upscale + 2x residual stages, optional side outputs, optional mask branch."""

    def __init__(
        self,
        in_channels: int,
        filters: tuple[int, ...],
        multiscale: bool,
        mask_filters: tuple[int, ...] | None,
    ) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        channels = in_channels
        for width in filters:
            stages.append(
                nn.Sequential(
                    UpscaleBlock(channels, width, relu_alpha=0.2),
                    ResidualBlock(width),
                    ResidualBlock(width),
                )
            )
            channels = width
        self.stages = nn.ModuleList(stages)
        # Faces at 1/4 and 1/2 size, from the first stages, when training multi-scale.
        self.side_outputs = nn.ModuleList(
            [OutputConv(width, 3) for width in filters[:-1]] if multiscale else []
        )
        self.face_out = OutputConv(channels, 3)
        self.mask = build_upscale_decoder(in_channels, mask_filters, 1) if mask_filters else None

    def forward_multiscale(self, x: Tensor) -> list[Tensor]:
        """Faces from smallest to full size (only the full one without multiscale)."""
        faces = []
        features = x
        for index, stage in enumerate(self.stages):
            features = stage(features)
            if index < len(self.side_outputs):
                faces.append(self.side_outputs[index](features))
        faces.append(self.face_out(features))
        return faces

    def forward(self, x: Tensor) -> ModelOutput:
        features = x
        for stage in self.stages:
            features = stage(features)
        face = self.face_out(features)
        if self.mask is None:
            return face
        return face, self.mask(x)


def _liae_intermediate(config: DflSAEConfig) -> nn.Sequential:
    size = config.input_size // 16
    flat = size * size * config.encoder_filters[-1]
    ae_dims = config.ae_dims
    return nn.Sequential(
        Dense(flat, ae_dims),
        Dense(ae_dims, size * size * ae_dims * 2),
        ToFeatureMap(size, ae_dims * 2),
        UpscaleBlock(ae_dims * 2, ae_dims * 2),
    )


@MODELS.register("dfl-sae")
class DflSAEModel(FaceSwapModel):
    """DeepFaceLab SAE (128 px; about 130.0 M parameters at defaults, ``df``)."""

    name = "dfl-sae"
    config_class = DflSAEConfig
    config: DflSAEConfig

    def __init__(self, config: DflSAEConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        # Faceswap sizes the mask branch from the per-channel dims, not 3x them.
        mask_filters = (
            (cfg.decoder_dims * 8, cfg.decoder_dims * 4, cfg.decoder_dims * 2)
            if cfg.learn_mask
            else None
        )
        if cfg.architecture == "df":
            self.encoder = build_encoder(
                Layout(
                    input_size=cfg.input_size,
                    encoder_filters=cfg.encoder_filters,
                    encoder_dim=cfg.ae_dims,
                    dense_size=cfg.input_size // 16,
                    dense_filters=cfg.ae_dims,
                    encoder_upscale_filters=cfg.ae_dims,
                    decoder_filters=(),
                )
            )
            self.decoder_a = SAEDecoder(
                cfg.ae_dims, cfg.decoder_filters, cfg.multiscale_decoder, mask_filters
            )
            self.decoder_b = SAEDecoder(
                cfg.ae_dims, cfg.decoder_filters, cfg.multiscale_decoder, mask_filters
            )
        else:
            layers: list[nn.Module] = []
            channels = 3
            for filters in cfg.encoder_filters:
                layers.append(ConvBlock(channels, filters))
                channels = filters
            layers.append(FlattenChannelsLast())
            self.encoder = nn.Sequential(*layers)
            self.inter_b = _liae_intermediate(cfg)
            self.inter_both = _liae_intermediate(cfg)
            self.decoder = SAEDecoder(
                cfg.ae_dims * 4, cfg.decoder_filters, cfg.multiscale_decoder, mask_filters
            )

    def _decoder_input(self, faces: Tensor, side: Side) -> tuple[SAEDecoder, Tensor]:
        self._check_side(side)
        features = self.encoder(faces)
        if self.config.architecture == "df":
            return (self.decoder_a if side == "a" else self.decoder_b), features
        shared = self.inter_both(features)
        # LIAE has no A-only intermediate: A is the shared code twice.
        own = shared if side == "a" else self.inter_b(features)
        return self.decoder, torch.cat([own, shared], dim=1)

    def forward(self, faces: Tensor, side: Side) -> ModelOutput:
        decoder, latent = self._decoder_input(faces, side)
        return decoder(latent)

    def forward_multiscale(self, faces: Tensor, side: Side) -> list[Tensor]:
        """Faces at every decoder scale, smallest first (for a multi-scale loss)."""
        decoder, latent = self._decoder_input(faces, side)
        return decoder.forward_multiscale(latent)
