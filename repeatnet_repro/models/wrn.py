"""Pre-activation Wide ResNet WRN-L-w for CIFAR, with the sharing groups of SWRN-L-w-k.

Widths 16, 16w, 32w, 64w; N = (L-4)/6 blocks per stage (BN-ReLU-conv3-BN-ReLU-[dropout]-conv3),
strides 1, 2, 2; a 1x1 shortcut (no bias) on the pre-activated input where the width changes; head
BN-ReLU-global average pool-linear. Soft sharing (Savarese & Maire): in each stage the first block
(2 convs + shortcut) stays unshared and the 2(N-1) convs of blocks 2..N form group `stage<s>`, so
SWRN-L-w-k is `model=wrn sharing=soft sharing.templates=k`.
"""
from __future__ import annotations

from typing import Annotated, Optional

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range
from ..sharing import SharedConv2d
from .registry import MODELS


class PreActBlock(nn.Module):
    """BN-ReLU-conv3-BN-ReLU-[dropout]-conv3 plus identity, or a 1x1 conv of the pre-activated input.

    Dropout sits right before the second conv, on the BN-ReLU output, as in wide-resnet.lua (the WRN
    code the soft-sharing paper follows).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float, group: Optional[str]):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = SharedConv2d(c_in, c_out, 3, stride=stride, padding=1, group=group)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = SharedConv2d(c_out, c_out, 3, padding=1, group=group)
        self.shortcut = SharedConv2d(c_in, c_out, 1, stride=stride) if c_in != c_out else None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(pre)))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    def __init__(self, info: DataInfo, depth: int, widen: int, dropout: float):
        super().__init__()
        blocks_per_stage = (depth - 4) // 6
        self.stem = SharedConv2d(info.in_channels, 16, 3, padding=1)
        blocks = []
        c_in = 16
        for s, (width, stride) in enumerate(zip((16 * widen, 32 * widen, 64 * widen), (1, 2, 2)), start=1):
            for b in range(blocks_per_stage):
                blocks.append(PreActBlock(c_in, width, stride if b == 0 else 1, dropout,
                                          None if b == 0 else f"stage{s}"))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, info.num_classes)
        nn.init.kaiming_normal_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.classifier(self.pool(x).flatten(1))


@MODELS.register("wrn")
def wrn(info: DataInfo, depth: Annotated[int, Range(ge=10)] = 28, widen: Annotated[int, Range(ge=1)] = 10, dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0) -> WideResNet:
    """depth: L (6N + 4); widen: w; dropout: before a block's second conv (0.3 for the paper's '*' rows)."""
    if depth < 10 or (depth - 4) % 6:
        valid = ", ".join(str(6 * n + 4) for n in range(1, 7))
        raise ConfigError(f"model.depth={depth}: (depth-4) must be a positive multiple of 6; "
                          f"valid depths: {valid}, ...")
    if widen < 1:
        raise ConfigError(f"model.widen={widen}: the widen factor must be a positive integer")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout={dropout}: must be in [0, 1)")
    return WideResNet(info, depth, widen, dropout)
