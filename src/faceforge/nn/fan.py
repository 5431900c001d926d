"""2D-FAN-4 (Bulat and Tzimiropoulos 2017): four stacked hourglasses of depth 4 over 256
features, each ending in 68 heatmaps of 64x64. Parameter names follow face-alignment's
published weights (faceforge.plugins.align.fan maps Faceswap's)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STACKS = 4
DEPTH = 4
FEATURES = 256
POINTS = 68


class ConvBlock(nn.Module):
    """FAN's residual block: three pre-activated 3x3 convolutions of out/2, out/4 and out/4
    channels, concatenated, plus the input (through a 1x1 convolution when widths differ)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        widths = (cin, cout // 2, cout // 4, cout // 4)
        for i in range(3):
            self.add_module(f"bn{i + 1}", nn.BatchNorm2d(widths[i]))
            self.add_module(f"conv{i + 1}",
                            nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False))
        self.downsample = None if cin == cout else nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        y = x
        for i in (1, 2, 3):
            y = getattr(self, f"conv{i}")(F.relu(getattr(self, f"bn{i}")(y)))
            parts.append(y)
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.cat(parts, dim=1) + shortcut


class HourGlass(nn.Module):
    """Recursive hourglass: at each level an upper branch at this resolution and a lower one
    at half, which recurses, then is upsampled and added."""

    def __init__(self, depth: int, features: int) -> None:
        super().__init__()
        self.depth = depth
        for level in range(depth, 0, -1):
            for branch in ("b1", "b2", "b3"):
                self.add_module(f"{branch}_{level}", ConvBlock(features, features))
        self.add_module("b2_plus_1", ConvBlock(features, features))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        upper = getattr(self, f"b1_{level}")(x)
        lower = getattr(self, f"b2_{level}")(F.avg_pool2d(x, 2, stride=2))
        lower = self._level(level - 1, lower) if level > 1 else self.b2_plus_1(lower)
        lower = getattr(self, f"b3_{level}")(lower)
        return upper + F.interpolate(lower, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, x)


class FANNet(nn.Module):
    """2D-FAN-4; parameter names follow face-alignment's published weights."""

    def __init__(self, stacks: int = STACKS) -> None:
        super().__init__()
        self.stacks = stacks
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, FEATURES)
        for i in range(stacks):
            self.add_module(f"m{i}", HourGlass(DEPTH, FEATURES))
            self.add_module(f"top_m_{i}", ConvBlock(FEATURES, FEATURES))
            self.add_module(f"conv_last{i}", nn.Conv2d(FEATURES, FEATURES, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(FEATURES))
            self.add_module(f"l{i}", nn.Conv2d(FEATURES, POINTS, 1))
            if i < stacks - 1:  # the last stack feeds nothing on
                self.add_module(f"bl{i}", nn.Conv2d(FEATURES, FEATURES, 1))
                self.add_module(f"al{i}", nn.Conv2d(POINTS, FEATURES, 1))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(N, 3, 256, 256) RGB in [0, 1] -> the last stack's (N, 68, 64, 64) heatmaps."""
        x = F.relu(self.bn1(self.conv1(rgb)))
        x = self.conv4(self.conv3(F.avg_pool2d(self.conv2(x), 2, stride=2)))
        heatmaps = x
        for i in range(self.stacks):
            y = getattr(self, f"top_m_{i}")(getattr(self, f"m{i}")(x))
            y = F.relu(getattr(self, f"bn_end{i}")(getattr(self, f"conv_last{i}")(y)))
            heatmaps = getattr(self, f"l{i}")(y)
            if i < self.stacks - 1:
                x = x + getattr(self, f"bl{i}")(y) + getattr(self, f"al{i}")(heatmaps)
        return heatmaps
