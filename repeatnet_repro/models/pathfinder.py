"""The shortest-path network of the soft-sharing paper (Fig. 5): per-pixel logits on a grid.

1x1 conv in->width; `layers` x [3x3 conv width->width, BN, ReLU, identity skip]; 1x1 conv
width->1. The output is [B, 1, H, W] logits (sigmoid + BCE in the loss). All 3x3 convs form the
one group `layers`, so the paper's SCNN is `sharing=soft sharing.templates=20` (20 templates over
the 20 layers) and the plain CNN is `sharing=none`. `width_mult` m widens every conv from its declared m = 1
shape (`base_channels`): RepeatNet width scaling with `sharing=repeat sharing.k_rep=m`. The residual layers
declare their place in the family (`PATHFINDER_DEPTHS`: one stage of `layers` blocks), so `sharing=repeat
sharing.plan=depth sharing.parent_depth=L'` makes it a depth-scaled L'-layer net (sharing/depth.py).
"""
from __future__ import annotations

from typing import Annotated

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range, Width
from ..sharing import DepthFamily, DepthSlot, SharedConv2d, stage_blocks
from .registry import MODELS

PATHFINDER_DEPTHS = DepthFamily("model.layers", stage_blocks(lambda n: n if n >= 1 else None, 1), "L >= 1 layers")


class ResidualLayer(nn.Module):
    """x + ReLU(BN(conv3(x)))."""

    def __init__(self, width: int, base: int, index: int):
        super().__init__()
        self.conv = SharedConv2d(width, width, 3, padding=1, group="layers", base_channels=(base, base),
                                 depth=DepthSlot(PATHFINDER_DEPTHS, 1, index, "conv"))
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        return x + F.relu(self.bn(self.conv(x)))


class PathFinder(nn.Module):
    def __init__(self, info: DataInfo, width: int, layers: int, width_mult: int):
        super().__init__()
        self.inp = SharedConv2d(info.in_channels, width * width_mult, 1, base_channels=(width, info.in_channels))
        self.layers = nn.Sequential(*(ResidualLayer(width * width_mult, width, i) for i in range(layers)))
        self.out = SharedConv2d(width * width_mult, 1, 1, bias=True, base_channels=(1, width))

    def forward(self, x):
        return self.out(self.layers(self.inp(x)))


@MODELS.register("pathfinder")
def pathfinder(info: DataInfo, width: Annotated[int, Range(ge=1), Width()] = 32, layers: Annotated[int, Range(ge=1)] = 20,
               width_mult: Annotated[int, Range(ge=1)] = 1) -> PathFinder:
    """width: channels of the residual layers; layers: number of 3x3 residual layers; width_mult: m,
    RepeatNet's k_rep (every conv m x wider)."""
    if info.task != "segmentation":
        raise ConfigError(f"model=pathfinder predicts a per-pixel map and needs a segmentation dataset "
                          f"(e.g. dataset=shortest_paths); this dataset's task is '{info.task}'")
    if width < 1 or layers < 1:
        raise ConfigError(f"model.width={width}, model.layers={layers}: both must be positive integers")
    return PathFinder(info, width, layers, width_mult)
