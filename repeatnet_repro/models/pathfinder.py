"""The shortest-path network of the soft-sharing paper (Fig. 5): per-pixel logits on a grid.

1x1 conv in->width; `layers` x [3x3 conv width->width, BN, ReLU, identity skip]; 1x1 conv
width->1. The output is [B, 1, H, W] logits (sigmoid + BCE in the loss). All 3x3 convs form the
one group `layers`, so the paper's SCNN is `sharing=soft sharing.templates=20` (20 templates over
the 20 layers) and the plain CNN is `sharing=none`.
"""
from __future__ import annotations

from typing import Annotated

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range
from ..sharing import SharedConv2d
from .registry import MODELS


class ResidualLayer(nn.Module):
    """x + ReLU(BN(conv3(x)))."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = SharedConv2d(width, width, 3, padding=1, group="layers")
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        return x + F.relu(self.bn(self.conv(x)))


class PathFinder(nn.Module):
    def __init__(self, info: DataInfo, width: int, layers: int):
        super().__init__()
        self.inp = SharedConv2d(info.in_channels, width, 1)
        self.layers = nn.Sequential(*(ResidualLayer(width) for _ in range(layers)))
        self.out = SharedConv2d(width, 1, 1, bias=True)

    def forward(self, x):
        return self.out(self.layers(self.inp(x)))


@MODELS.register("pathfinder")
def pathfinder(info: DataInfo, width: Annotated[int, Range(ge=1)] = 32, layers: Annotated[int, Range(ge=1)] = 20) -> PathFinder:
    """width: channels of the residual layers; layers: number of 3x3 residual layers."""
    if info.task != "segmentation":
        raise ConfigError(f"model=pathfinder predicts a per-pixel map and needs a segmentation dataset "
                          f"(e.g. dataset=shortest_paths); this dataset's task is '{info.task}'")
    if width < 1 or layers < 1:
        raise ConfigError(f"model.width={width}, model.layers={layers}: both must be positive integers")
    return PathFinder(info, width, layers)
