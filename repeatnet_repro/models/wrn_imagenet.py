"""WRN-50-2 for ImageNet with the 12 sharing groups of the soft-sharing paper (Table 3).

ResNet-50 layout (stem conv7 stride 2 + max-pool, bottleneck stages [3, 4, 6, 3]) with bottleneck
widths doubled: B = 128, 256, 512, 1024 and outputs C = 256, 512, 1024, 2048 (at `width` 64, ResNet-50's).
The paper groups the convs of each stage by channel mapping: C->B 1x1, B->B 3x3, B->C 1x1 (groups `stage<s>_c2b`,
`stage<s>_b2b`, `stage<s>_b2c`). A stage's first block reads the previous stage's output (not C
channels), so its first 1x1 conv and its projection shortcut are no C->B mapping and stay unshared.
`width_mult` m widens every conv but the stem (B and C m times); each conv declares its m = 1 shape as
`base_channels`, so `sharing=repeat sharing.k_rep=m` (which sets m) is RepeatNet width scaling.
"""
from __future__ import annotations

from typing import Annotated, Optional

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range, Width
from ..sharing import SharedConv2d
from .registry import MODELS

STAGE_BLOCKS = (3, 4, 6, 3)
PLANE_FACTORS = (1, 2, 4, 8)  # stage planes as multiples of the stem width (ResNet-50: 64, 128, 256, 512)
EXPANSION = 4
INIT = "kaiming_normal_fan_out"


class Bottleneck(nn.Module):
    """1x1 C->B, 3x3 B->B (carries the stride), 1x1 B->C, each with BN; ReLU after the residual sum."""

    def __init__(self, c_in: int, bottleneck: int, c_out: int, stride: int, stage: int, first: bool, m: int):
        """c_in, bottleneck, c_out: the m = 1 widths (c_in of the first block: the unwidened stem's 64)."""
        super().__init__()
        b_in = c_in if first and stage == 1 else c_in * m
        self.conv1 = SharedConv2d(b_in, bottleneck * m, 1, group=None if first else f"stage{stage}_c2b", init=INIT,
                                  base_channels=(bottleneck, c_in))
        self.bn1 = nn.BatchNorm2d(bottleneck * m)
        self.conv2 = SharedConv2d(bottleneck * m, bottleneck * m, 3, stride=stride, padding=1,
                                  group=f"stage{stage}_b2b", init=INIT, base_channels=(bottleneck, bottleneck))
        self.bn2 = nn.BatchNorm2d(bottleneck * m)
        self.conv3 = SharedConv2d(bottleneck * m, c_out * m, 1, group=f"stage{stage}_b2c", init=INIT,
                                  base_channels=(c_out, bottleneck))
        self.bn3 = nn.BatchNorm2d(c_out * m)
        self.shortcut: Optional[nn.Sequential] = None
        if first:
            self.shortcut = nn.Sequential(SharedConv2d(b_in, c_out * m, 1, stride=stride, init=INIT,
                                                       base_channels=(c_out, c_in)),
                                          nn.BatchNorm2d(c_out * m))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class WideResNetImageNet(nn.Module):
    def __init__(self, info: DataInfo, widen: int, width_mult: int, width: int = 64):
        super().__init__()
        self.stem = SharedConv2d(info.in_channels, width, 7, stride=2, padding=3, init=INIT,
                                 base_channels=(width, info.in_channels))
        self.stem_bn = nn.BatchNorm2d(width)
        self.stem_pool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks = []
        c_in = width
        for s, (n_blocks, planes) in enumerate(zip(STAGE_BLOCKS, (width * f for f in PLANE_FACTORS)), start=1):
            for b in range(n_blocks):
                stride = 2 if s > 1 and b == 0 else 1
                blocks.append(Bottleneck(c_in, planes * widen, planes * EXPANSION, stride, s, b == 0, width_mult))
                c_in = planes * EXPANSION
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in * width_mult, info.num_classes)

    def forward(self, x):
        x = self.stem_pool(F.relu(self.stem_bn(self.stem(x))))
        return self.classifier(self.pool(self.blocks(x)).flatten(1))


@MODELS.register("wrn_imagenet")
def wrn_imagenet(info: DataInfo, widen: Annotated[int, Range(ge=1)] = 2,
                 width_mult: Annotated[int, Range(ge=1)] = 1,
                 width: Annotated[int, Range(ge=1), Width()] = 64) -> WideResNetImageNet:
    """widen: bottleneck width multiplier (2 = WRN-50-2, 1 = ResNet-50); width_mult: m, RepeatNet's k_rep
    (every conv but the stem m x wider); width: the stem's width, stage s has width * 2^(s-1) planes
    (before widen; 64 = ResNet-50's)."""
    if widen < 1:
        raise ConfigError(f"model.widen={widen}: the bottleneck width multiplier must be a positive integer")
    if info.image_size < 32:
        raise ConfigError(f"model=wrn_imagenet downsamples 32x; dataset image_size={info.image_size} "
                          "is too small (need >= 32)")
    return WideResNetImageNet(info, widen, width_mult, width)
