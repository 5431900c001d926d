"""Reusable torch building blocks for the face autoencoders (Faceswap's layer vocabulary).

Every block takes NCHW tensors and works unchanged on ``channels_last`` tensors and under
bf16 autocast. Weight initialisation follows Keras/Faceswap defaults so freshly built models
start training the way Faceswap's do.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from faceforge.nn.fast_conv import FastConv2d

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


def he_uniform_(conv: nn.Conv2d) -> nn.Conv2d:
    """Keras ``he_uniform`` kernel and zero bias: Faceswap's default for every convolution."""
    nn.init.kaiming_uniform_(conv.weight, a=0.0, nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _variance_scaling_uniform_(conv: nn.Conv2d, scale: float) -> None:
    """Keras ``VarianceScaling(scale, mode="fan_in", distribution="uniform")``."""
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    limit = math.sqrt(3.0 * scale / fan_in)
    nn.init.uniform_(conv.weight, -limit, limit)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def _activation(name: str | None, relu_alpha: float) -> nn.Module:
    if name is None:
        return nn.Identity()
    if name == "leakyrelu":
        return nn.LeakyReLU(relu_alpha, inplace=True)
    raise ValueError(f"unknown activation {name!r}: use 'leakyrelu' or None")


def _same_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Conv2d:
    # Symmetric padding k//2 gives the same output size as Keras "same" for odd kernels; Keras
    # pads one pixel more on the bottom/right for stride 2, which only shifts the sampling grid.
    return he_uniform_(
        FastConv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)
    )


class ConvBlock(nn.Sequential):
    """Faceswap ``Conv2DBlock``: 5x5 stride-2 "same" convolution then LeakyReLU(0.1)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 5,
        stride: int = 2,
        activation: str | None = "leakyrelu",
        relu_alpha: float = 0.1,
    ) -> None:
        super().__init__(
            _same_conv(in_channels, out_channels, kernel_size, stride),
            _activation(activation, relu_alpha),
        )


class DepthToSpace(nn.Module):
    """Sub-pixel shuffle reading channels sub-pixel-major: output ``(c, h*s + i, w*s + j)`` is
    input channel ``(i*s + j) * C + c`` (TensorFlow's ``depth_to_space`` order).

    On ``channels_last`` maps both directions move runs of ``C`` contiguous values, where
    ``nn.PixelShuffle``'s order makes its backward pass gather single values.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        n, channels, h, w = x.shape
        s = self.scale
        c = channels // (s * s)
        if x.is_contiguous(memory_format=torch.channels_last):
            pixels = x.permute(0, 2, 3, 1).reshape(n, h, w, s, s, c)
            return pixels.permute(0, 1, 3, 2, 4, 5).reshape(n, h * s, w * s, c).permute(0, 3, 1, 2)
        return x.reshape(n, s, s, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * s, w * s)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class UpscaleBlock(nn.Sequential):
    """Faceswap ``UpscaleBlock``: 3x3 conv to ``out_channels * scale**2``, activation,
    then sub-pixel shuffle to ``scale`` times the size with ``out_channels`` channels.

    The weights keep ``nn.PixelShuffle``'s channel order (the block computes exactly conv +
    ``nn.PixelShuffle``); the convolution emits its channels regrouped for
    :class:`DepthToSpace`, which is cheaper to run backward. TensorFlow's ``depth_to_space``
    groups the stored channels differently again; the layer learns any order equally well, so
    only imported Keras weights would care.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        scale: int = 2,
        activation: str | None = "leakyrelu",
        relu_alpha: float = 0.1,
    ) -> None:
        conv = _same_conv(in_channels, out_channels * scale * scale, kernel_size, 1)
        conv.subpixel_groups = scale * scale
        super().__init__(conv, _activation(activation, relu_alpha), DepthToSpace(scale))


class ResidualBlock(nn.Module):
    """Dfaker's residual block: conv, LeakyReLU(0.2), conv, add input, LeakyReLU(0.2)."""

    def __init__(self, channels: int, kernel_size: int = 3, first_init_std: float | None = None):
        super().__init__()
        self.conv_0 = _same_conv(channels, channels, kernel_size, 1)
        self.conv_1 = _same_conv(channels, channels, kernel_size, 1)
        if first_init_std is not None:
            # Dfaker draws the first kernel from N(0, 0.02) instead of he_uniform.
            nn.init.normal_(self.conv_0.weight, 0.0, first_init_std)
        # A small second kernel keeps the block close to identity at the start of training.
        _variance_scaling_uniform_(self.conv_1, scale=0.2)

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.leaky_relu(self.conv_0(x), 0.2)
        y = self.conv_1(y)
        return nn.functional.leaky_relu(y + x, 0.2)


class OutputConv(nn.Module):
    """Final 5x5 "same" convolution with a sigmoid computed in float32.

    Faceswap pins its output activation to float32 for mixed precision; doing the same keeps
    faces and masks in [0, 1] at full precision when the body runs in bf16.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = _same_conv(in_channels, out_channels, kernel_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.conv(x).float())


class Dense(nn.Linear):
    """Fully connected layer with Keras' defaults (glorot-uniform kernel, zero bias)."""

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class FlattenChannelsLast(nn.Module):
    """Flatten a feature map in (H, W, C) order, as Keras' ``Flatten`` does.

    For ``channels_last`` inputs the permute is a free view, so no copy is made.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


class ToFeatureMap(nn.Module):
    """Reshape flat vectors to an NCHW map laid out channels-last (Keras' ``Reshape``)."""

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        self.size = size
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        # A (N, H, W, C) view permuted to NCHW is a channels_last tensor without a copy.
        return x.view(x.shape[0], self.size, self.size, self.channels).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"size={self.size}, channels={self.channels}"


class DenseBottleneck(nn.Sequential):
    """Flatten, Dense to ``latent_dim``, Dense back up and reshape to a small feature map."""

    def __init__(self, in_features: int, latent_dim: int, out_size: int, out_channels: int) -> None:
        super().__init__(
            FlattenChannelsLast(),
            Dense(in_features, latent_dim),
            Dense(latent_dim, out_size * out_size * out_channels),
            ToFeatureMap(out_size, out_channels),
        )
