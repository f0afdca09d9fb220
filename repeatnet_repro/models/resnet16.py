"""RepeatNet's ResNet-16 for CIFAR with width multiplier k (Tables 1 and 2).

Stem conv3 3->16 (never widened), 3 stages x 2 basic blocks at widths 16k, 32k, 64k (strides
1, 2, 2), global average pool, linear head. Every block conv and 1x1 shortcut declares
`base_channels` = its shape at k = 1, so `sharing=repeat` (width plan) makes it a child of a k = 1
parent and the widened net keeps (almost) the k = 1 parameter count. Conv biases are kept (the
paper's 176K / 182K include them) and BatchNorm starts at weight 1, bias 0.01.

The paper's parameter-matched "Normal" rows add a fully connected layer to the k = 1 net without
saying where; ours (EXPERIMENTS.md): head = Linear(64, hidden) -> Linear(hidden, classes).
"""
from __future__ import annotations

from typing import Annotated, Optional

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range
from ..sharing import SharedConv2d
from .registry import MODELS

STEM_WIDTH = 16
BASE_WIDTHS = (16, 32, 64)
STRIDES = (1, 2, 2)
BLOCKS_PER_STAGE = 2
BN_BIAS_INIT = 0.01


def _bn(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    nn.init.constant_(bn.bias, BN_BIAS_INIT)
    return bn


def _conv(c_in: int, c_out: int, kernel: int, stride: int, base: tuple, group: Optional[str]) -> SharedConv2d:
    """A block conv: bias kept, Xavier-uniform init (RepeatNet's parents), k = 1 shape as base."""
    return SharedConv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=True,
                        group=group, base_channels=base, init="xavier_uniform")


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN plus shortcut, then ReLU; 1x1 conv + BN shortcut when the shape changes.

    Every conv but the first of a stage's first block maps width -> width and joins the stage's `group`.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, base_in: int, base_out: int, group: str, first: bool):
        super().__init__()
        self.conv1 = _conv(c_in, c_out, 3, stride, (base_out, base_in), None if first else group)
        self.bn1 = _bn(c_out)
        self.conv2 = _conv(c_out, c_out, 3, 1, (base_out, base_out), group)
        self.bn2 = _bn(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(_conv(c_in, c_out, 1, stride, (base_out, base_in), None), _bn(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet16(nn.Module):
    """Stem, three stages of two basic blocks (sharing groups `stage1..3`), pooled linear head."""

    def __init__(self, info: DataInfo, k: int, hidden: Optional[int]):
        super().__init__()
        self.stem = SharedConv2d(info.in_channels, STEM_WIDTH, 3, padding=1, init="kaiming_normal_fan_out")
        self.stem_bn = _bn(STEM_WIDTH)
        blocks = []
        c_in, base_in = STEM_WIDTH, STEM_WIDTH
        for s, (base, stride) in enumerate(zip(BASE_WIDTHS, STRIDES), start=1):
            for b in range(BLOCKS_PER_STAGE):
                blocks.append(BasicBlock(c_in, base * k, stride if b == 0 else 1, base_in, base,
                                         f"stage{s}", first=b == 0))
                c_in, base_in = base * k, base
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        if hidden is None:
            self.classifier = nn.Linear(c_in, info.num_classes)
        else:
            self.classifier = nn.Sequential(nn.Linear(c_in, hidden), nn.Linear(hidden, info.num_classes))

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        return self.classifier(self.pool(self.blocks(x)).flatten(1))


@MODELS.register("resnet16")
def resnet16(info: DataInfo, k: Annotated[int, Range(ge=1)] = 1, hidden: Annotated[Optional[int], Range(ge=1)] = None) -> ResNet16:
    """k: width multiplier (k_rep under sharing=repeat); hidden: size of the extra FC layer, or None."""
    if k < 1:
        raise ConfigError(f"model.k={k}: the width multiplier must be a positive integer")
    if hidden is not None and hidden < 1:
        raise ConfigError(f"model.hidden={hidden}: give a positive size for the extra FC layer, "
                          "or null for the plain linear head")
    return ResNet16(info, k, hidden)
