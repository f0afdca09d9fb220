"""The plain rot-MNIST CNN of RepeatNet's Table 3 and its FLOP-matched RepeatNet variants.

Same layout as the RE-CNN (models/recnn.py) with ordinary convs: 6 convs (kernels
7,5,5,5,5,5; paddings 1,2,2,2,2,0), BN + ELU after each, 2x max-pool after convs 2 and 4, global
average pool, head Linear(c_last, 64)-BN1d-ELU-Linear(64, classes). The vanilla widths
22,33,45,45,67,90 give about the RE-CNNs' parameter count. Every conv declares
`base_channels` from `base_widths` (the vanilla widths), so `model.widths` set to a RE-CNN's
expanded widths plus `sharing=repeat sharing.plan=width` gives the RepeatNet variant whose conv
FLOPs match that RE-CNN. Such widths are no multiple of the base, so every conv declares RepeatNet's remainder
rule as its own (`sharing.remainder=null`, the default, follows it); `width_mult` (k_rep under
`sharing=repeat`) multiplies the widths on top. The vanilla
convs have no bias (the authors' NormalCNN); the widened ones keep one, as every Conv2dRepeat of the
authors' RepCNN does (C4 / C8 / C16: 864 / 1,220 / 1,728 parameters).
"""
from __future__ import annotations

from typing import Annotated, List, Sequence

from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range, Width
from ..sharing import SharedConv2d
from .registry import MODELS

KERNELS = (7, 5, 5, 5, 5, 5)
PADDINGS = (1, 2, 2, 2, 2, 0)
POOL_AFTER = (2, 4)  # 1-based conv indices followed by a 2x max-pool
HEAD_WIDTH = 64
VANILLA_WIDTHS = (22, 33, 45, 45, 67, 90)


def output_size(image_size: int) -> int:
    """Spatial size after the six convs and two pools of the rot-MNIST layout (29 -> 2)."""
    size = image_size
    for i, (k, p) in enumerate(zip(KERNELS, PADDINGS), start=1):
        size = size + 2 * p - k + 1
        if i in POOL_AFTER:
            size //= 2
    return size


def rotmnist_head(c_in: int, num_classes: int) -> nn.Sequential:
    """The fully connected head shared by the plain CNN and the RE-CNN."""
    return nn.Sequential(nn.Linear(c_in, HEAD_WIDTH), nn.BatchNorm1d(HEAD_WIDTH), nn.ELU(inplace=True),
                         nn.Linear(HEAD_WIDTH, num_classes))


def check_image_size(info: DataInfo) -> None:
    if output_size(info.image_size) < 1:
        raise ConfigError(f"the rot-MNIST layout (kernels {KERNELS}, paddings {PADDINGS}, pools after convs "
                          f"{POOL_AFTER}) needs image_size >= 24; the dataset gives {info.image_size}")


class RotMNISTCNN(nn.Module):
    """conv-BN-ELU x 6 with two max-pools.

    A plain conv is the authors' nn.Conv2d(bias=False) with PyTorch's default init (vanilla CNN); a widened
    one (width != base) is their Conv2dRepeat, which owns a zero-initialised bias and a Xavier-uniform
    parent. Convs mapping width -> width form group `w<width>`.
    """

    def __init__(self, info: DataInfo, widths: Sequence[int], base_widths: Sequence[int], width_mult: int = 1):
        super().__init__()
        layers: List[nn.Module] = []
        c_in, base_in = info.in_channels, info.in_channels
        for i, (width, base, k, p) in enumerate(zip(widths, base_widths, KERNELS, PADDINGS), start=1):
            width *= width_mult
            plain = (width, c_in) == (base, base_in)
            layers += [SharedConv2d(c_in, width, k, padding=p, group=f"w{width}" if c_in == width else None,
                                    bias=not plain, base_channels=(base, base_in), remainder=True,
                                    init="torch_default" if plain else "xavier_uniform"),
                       nn.BatchNorm2d(width), nn.ELU(inplace=True)]
            if i in POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            c_in, base_in = width, base
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = rotmnist_head(c_in, info.num_classes)

    def forward(self, x):
        return self.head(self.pool(self.features(x)).flatten(1))


@MODELS.register("cnn_rotmnist")
def cnn_rotmnist(info: DataInfo, widths: Annotated[List[int], Range(ge=1), Width()] = list(VANILLA_WIDTHS),
                 base_widths: Annotated[List[int], Range(ge=1)] = list(VANILLA_WIDTHS),
                 width_mult: Annotated[int, Range(ge=1)] = 1) -> RotMNISTCNN:
    """widths: channels of the six convs; base_widths: their k = 1 (parent) widths for sharing=repeat;
    width_mult: m, RepeatNet's k_rep (the convs are m * widths wide)."""
    for key, values in (("widths", widths), ("base_widths", base_widths)):
        if len(values) != len(KERNELS) or min(values) < 1:
            raise ConfigError(f"model.{key}={list(values)}: give {len(KERNELS)} positive conv widths")
    if any(b > w for w, b in zip(widths, base_widths)):
        raise ConfigError(f"model.base_widths={list(base_widths)} must not exceed model.widths={list(widths)} "
                          "(a RepeatNet child is at least as wide as its parent)")
    check_image_size(info)
    return RotMNISTCNN(info, list(widths), list(base_widths), width_mult)
