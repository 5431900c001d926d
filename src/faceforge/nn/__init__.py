"""Reusable torch layers for faceforge models; never imports ``faceforge.plugins``."""

from faceforge.nn.blocks import (
    ConvBlock,
    Dense,
    DenseBottleneck,
    DepthToSpace,
    FlattenChannelsLast,
    OutputConv,
    ResidualBlock,
    ToFeatureMap,
    UpscaleBlock,
    he_uniform_,
)

__all__ = [
    "ConvBlock",
    "Dense",
    "DenseBottleneck",
    "DepthToSpace",
    "FlattenChannelsLast",
    "OutputConv",
    "ResidualBlock",
    "ToFeatureMap",
    "UpscaleBlock",
    "he_uniform_",
]
