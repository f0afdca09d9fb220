"""RepeatNet's VGG-n (n = 4..11): conv3 layers with bias, BN and ReLU, one linear layer.

Unlike the standard VGG, the head is a single linear layer after global average pooling
(RepeatNet paper, footnote 2). VGG-n keeps the first n-1 convs of VGG-11's layout. Convs start as
PyTorch's nn.Conv2d does (the authors' VGG and the parents of their RepeatNet VGGs are nn.Conv2d). Convs are
named `conv{block}_{i}` (qualified names end in e.g. `.conv3_1`), the names RepeatNet's depth plans
(`sharing=repeat_vgg<n>`, parent -> child maps of EXPERIMENTS.md) refer to.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, List

from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range, Width
from ..sharing import SharedConv2d
from .registry import MODELS

VGG11_BLOCKS = ((1, 1), (2, 2), (4, 4), (8, 8), (8, 8))  # widths in units of the first conv's (VGG-11: 64)


def vgg_blocks(depth: int, width: int = 64) -> List[List[int]]:
    """Widths per block of VGG-`depth`: the first depth-1 convs of VGG-11, blocks kept whole or cut."""
    blocks, left = [], depth - 1
    for block in VGG11_BLOCKS:
        if left == 0:
            break
        blocks.append([width * f for f in block[:left]])
        left -= len(blocks[-1])
    return blocks


class VGG(nn.Module):
    """Blocks of conv3-BN-ReLU closed by a 2x max-pool; global average pool; one linear layer.

    Convs mapping width -> width form the sharing group `w<width>` (in VGG-11: conv4_2, conv5_1 and
    conv5_2 share shape 512x512), so `sharing=hard|soft` share exactly the same-shape layers.
    `width_mult` m widens every conv m times from its declared m = 1 shape (`base_channels`): RepeatNet
    width scaling with `sharing=repeat sharing.k_rep=m`.
    """

    def __init__(self, info: DataInfo, blocks: List[List[int]], width_mult: int = 1):
        super().__init__()
        layers: "OrderedDict[str, nn.Module]" = OrderedDict()
        c_in = base_in = info.in_channels
        for b, widths in enumerate(blocks, start=1):
            for i, base in enumerate(widths, start=1):
                width = base * width_mult
                group = f"w{width}" if c_in == width else None
                layers[f"conv{b}_{i}"] = SharedConv2d(c_in, width, 3, padding=1, bias=True, group=group,
                                                      base_channels=(base, base_in), init="torch_default")
                layers[f"bn{b}_{i}"] = nn.BatchNorm2d(width)
                layers[f"relu{b}_{i}"] = nn.ReLU(inplace=True)
                c_in, base_in = width, base
            layers[f"pool{b}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, info.num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@MODELS.register("vgg")
def vgg(info: DataInfo, depth: Annotated[int, Range(ge=4, le=11)] = 11,
        width_mult: Annotated[int, Range(ge=1)] = 1, width: Annotated[int, Range(ge=1), Width()] = 64) -> VGG:
    """depth: n of VGG-n, 4..11 (n-1 convs plus the linear layer); width_mult: m, RepeatNet's k_rep;
    width: the first conv's width, later blocks 2x, 4x, 8x, 8x it (64 = VGG-11's; the depth maps of
    repeat_vgg<n> hold at any width)."""
    if not 4 <= depth <= 11:
        raise ConfigError(f"model.depth={depth}: VGG-n is defined for n = 4..11 (VGG-11 layout "
                          "64,64,M,128,128,M,256,256,M,512,512,M,512,512,M cut after n-1 convs)")
    blocks = vgg_blocks(depth, width)
    if info.image_size < 2 ** len(blocks):
        raise ConfigError(f"model.depth={depth} has {len(blocks)} max-pools; dataset image_size="
                          f"{info.image_size} is too small (need >= {2 ** len(blocks)})")
    return VGG(info, blocks, width_mult)
