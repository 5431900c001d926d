"""The S3FD network (Zhang et al. 2017): VGG-16 with six detection heads at strides 4 to 128.

Parameter names follow the published weights (face-alignment's, which Faceswap's share): the
trunk's conv1_1..conv5_3, fc6/fc7 and conv6/conv7, L2-normalised conv3_3/4_3/5_3 features, and
per head `<feature>_mbox_conf` (face scores) and `<feature>_mbox_loc` (box offsets).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: (name, in, out) of the VGG-16 trunk's 3x3 convolutions; "pool" marks a 2x2 max pool
_TRUNK = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), "pool",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), "pool",
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), "pool",
)
#: the detection heads: (feature name, channels, L2-norm scale or None), strides 4..128
_HEADS = (("conv3_3", 256, 10.0), ("conv4_3", 512, 8.0), ("conv5_3", 512, 5.0),
          ("fc7", 1024, None), ("conv6_2", 512, None), ("conv7_2", 256, None))


class L2Norm(nn.Module):
    """Scales each position's feature vector to unit length, then by a learnt per-channel
    weight (SSD's fix for the large activations of early VGG layers)."""

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), scale))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        norm = features.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return features / norm * self.weight.view(1, -1, 1, 1)


class S3FDNet(nn.Module):
    """The S3FD network; parameter names follow the published weights (face-alignment's)."""

    def __init__(self) -> None:
        super().__init__()
        for layer in _TRUNK:
            if layer != "pool":
                name, cin, cout = layer
                self.add_module(name, nn.Conv2d(cin, cout, 3, padding=1))
        self.fc6 = nn.Conv2d(512, 1024, 3, padding=3)
        self.fc7 = nn.Conv2d(1024, 1024, 1)
        self.conv6_1 = nn.Conv2d(1024, 256, 1)
        self.conv6_2 = nn.Conv2d(256, 512, 3, stride=2, padding=1)
        self.conv7_1 = nn.Conv2d(512, 128, 1)
        self.conv7_2 = nn.Conv2d(128, 256, 3, stride=2, padding=1)
        for name, channels, scale in _HEADS:
            prefix = f"{name}_norm" if scale is not None else name
            if scale is not None:
                self.add_module(prefix, L2Norm(channels, scale))
            # The first head scores 3 background classes and 1 face class (max-out).
            self.add_module(f"{prefix}_mbox_conf",
                            nn.Conv2d(channels, 4 if name == "conv3_3" else 2, 3, padding=1))
            self.add_module(f"{prefix}_mbox_loc", nn.Conv2d(channels, 4, 3, padding=1))

    def forward(self, bgr: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per head (stride 4 first): face probability (N, H, W) and box offsets (N, 4, H, W)."""
        features = {}
        x = bgr
        for layer in _TRUNK:
            if layer == "pool":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.relu(getattr(self, layer[0])(x), inplace=True)
                if layer[0] in ("conv3_3", "conv4_3", "conv5_3"):
                    features[layer[0]] = x  # only what a head reads stays in memory
        x = F.relu(self.fc7(F.relu(self.fc6(x), inplace=True)), inplace=True)
        features["fc7"] = x
        x = F.relu(self.conv6_2(F.relu(self.conv6_1(x), inplace=True)), inplace=True)
        features["conv6_2"] = x
        features["conv7_2"] = F.relu(self.conv7_2(F.relu(self.conv7_1(x), inplace=True)),
                                     inplace=True)
        outputs = []
        for name, _channels, scale in _HEADS:
            prefix = f"{name}_norm" if scale is not None else name
            feature = features[name]
            if scale is not None:
                feature = getattr(self, prefix)(feature)
            scores = getattr(self, f"{prefix}_mbox_conf")(feature)
            if scores.shape[1] == 4:
                background = scores[:, :3].max(dim=1, keepdim=True).values
                scores = torch.cat([background, scores[:, 3:]], dim=1)
            face = F.softmax(scores, dim=1)[:, 1]
            outputs.append((face, getattr(self, f"{prefix}_mbox_loc")(feature)))
        return outputs
