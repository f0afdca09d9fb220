"""A small VGG-style CNN: the quick model for smoke runs, the demo and the scheme comparison."""
from __future__ import annotations

from typing import Annotated, List

from torch import nn

from ..registry import Range, Width
from ..data.base import DataInfo
from ..sharing import SharedConv2d
from .registry import MODELS


class ConvNet(nn.Module):
    """conv3-BN-ReLU blocks; a 2x max-pool closes each stage; global average pool; one linear layer.

    Convs after the first in a stage all map width -> width and form the sharing group `stage<i>`; with the
    default 3 convs per stage each group holds two layers (with 2 it would hold one: nothing to share).
    `width_mult` widens every conv but the image-reading one; each conv declares its unwidened
    (base) channels, so `sharing=repeat` (width plan) keeps the base model's parameter count.
    """

    def __init__(self, info: DataInfo, widths: List[int], convs_per_stage: int, width_mult: int):
        super().__init__()
        layers: List[nn.Module] = []
        c_in, base_in = info.in_channels, info.in_channels
        for s, base in enumerate(widths):
            width = base * width_mult
            for j in range(convs_per_stage):
                group = f"stage{s + 1}" if j > 0 else None
                layers += [SharedConv2d(c_in, width, 3, padding=1, group=group, base_channels=(base, base_in)),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                c_in, base_in = width, base
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, info.num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@MODELS.register("convnet")
def convnet(info: DataInfo, widths: Annotated[List[int], Range(ge=1), Width()] = [32, 64],
            convs_per_stage: Annotated[int, Range(ge=1)] = 3,
            width_mult: Annotated[int, Range(ge=1)] = 1) -> ConvNet:
    """widths: channels per stage (each stage halves the resolution); width_mult scales them all."""
    if not widths or min(widths) < 1:
        raise ValueError(f"model.widths={widths}: give one positive width per stage")
    if convs_per_stage < 1:
        raise ValueError(f"model.convs_per_stage={convs_per_stage}: must be >= 1")
    if width_mult < 1:
        raise ValueError(f"model.width_mult={width_mult}: must be >= 1")
    if info.image_size < 2 ** len(widths):
        raise ValueError(f"model.widths has {len(widths)} stages, each halving the image; "
                         f"dataset image_size={info.image_size} is too small (need >= {2 ** len(widths)})")
    return ConvNet(info, list(widths), convs_per_stage, width_mult)
