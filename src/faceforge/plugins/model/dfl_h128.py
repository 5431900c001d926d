"""Faceswap's ``dfl-h128`` trainer (after DeepFaceLab's H128): 128 px in and out.

Four encoder conv blocks, a 512-wide latent reshaped to 8x8x512, upscaled to 16x16x512, and
decoders of 512-256-128 upscale blocks. Low-memory mode halves every width after the convs.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceforge.plugins.model.base import MODELS
from faceforge.plugins.model.original import AutoEncoder, AutoEncoderConfig, Layout

__all__ = ["DflH128Config", "DflH128Model"]


@dataclass
class DflH128Config(AutoEncoderConfig):
    """Faceswap ``dfl-h128`` options; widths as in :class:`AutoEncoderConfig`.

    Attributes:
        lowmem: Faceswap's low-memory mode: halve the latent, dense map, encoder upscale and
            decoder widths (512 → 256 at defaults).
    """

    input_size: int = 128
    encoder_filters: tuple[int, ...] = (128, 256, 512, 1024)
    encoder_dim: int = 512
    dense_filters: int = 512
    encoder_upscale_filters: int = 512
    decoder_filters: tuple[int, ...] = (512, 256, 128)
    lowmem: bool = False

    def layout(self) -> Layout:
        layout = super().layout()
        if not self.lowmem:
            return layout
        return layout._replace(
            encoder_dim=layout.encoder_dim // 2,
            dense_filters=layout.dense_filters // 2,
            encoder_upscale_filters=layout.encoder_upscale_filters // 2,
            decoder_filters=tuple(width // 2 for width in layout.decoder_filters),
        )


@MODELS.register("dfl-h128")
class DflH128Model(AutoEncoder):
    """DeepFaceLab H128 as Faceswap builds it (about 107.7 M parameters at defaults)."""

    name = "dfl-h128"
    config_class = DflH128Config
