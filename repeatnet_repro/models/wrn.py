"""Pre-activation Wide ResNet WRN-L-w for CIFAR, with the sharing groups of SWRN-L-w-k.

Widths 16 (stem), nw, 2nw, 4nw (n = `width`, 16 in the papers); N = (L-4)/6 blocks per stage (BN-ReLU-conv3-BN-ReLU-[dropout]-conv3),
strides 1, 2, 2; a 1x1 shortcut (no bias) on the pre-activated input where the width changes; head
BN-ReLU-global average pool-linear. Soft sharing (Savarese & Maire): in each stage the first block
(2 convs + shortcut) stays unshared and the 2(N-1) convs of blocks 2..N form group `stage<s>`, so
SWRN-L-w-k is `model=wrn sharing=soft sharing.templates=k`. `width_mult` m widens every conv but the stem
(stages nwm, 2nwm, 4nwm); each conv declares its m = 1 shape as `base_channels`, so `sharing=repeat
sharing.k_rep=m` (which sets m) builds WRN-L-wm from WRN-L-w parents (RepeatNet width scaling). Block convs
declare their place in the family (`WRN_DEPTHS`), so `sharing=repeat sharing.plan=depth sharing.parent_depth=L'`
makes WRN-L a depth-scaled WRN-L' (sharing/depth.py).
"""
from __future__ import annotations

from typing import Annotated, Optional

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, Range, Width
from ..sharing import DepthFamily, DepthSlot, SharedConv2d, stage_blocks
from .registry import MODELS

#: WRN-L has N = (L - 4) / 6 blocks in each of its 3 stages
WRN_DEPTHS = DepthFamily("model.depth", stage_blocks(lambda d: (d - 4) // 6 if d >= 10 and (d - 4) % 6 == 0 else None,
                                                     3), "6N + 4: 10, 16, 22, 28, ...")


class PreActBlock(nn.Module):
    """BN-ReLU-conv3-BN-ReLU-[dropout]-conv3 plus identity, or a 1x1 conv of the pre-activated input.

    Dropout sits right before the second conv, on the BN-ReLU output, as in wide-resnet.lua (the WRN
    code the soft-sharing paper follows).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float, group: Optional[str],
                 base_in: int, base_out: int, stage: int, block: int):
        super().__init__()
        slot = lambda role: DepthSlot(WRN_DEPTHS, stage, block, role)  # noqa: E731
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = SharedConv2d(c_in, c_out, 3, stride=stride, padding=1, group=group,
                                  base_channels=(base_out, base_in), depth=slot("conv1"))
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = SharedConv2d(c_out, c_out, 3, padding=1, group=group, base_channels=(base_out, base_out),
                                  depth=slot("conv2"))
        self.shortcut = SharedConv2d(c_in, c_out, 1, stride=stride, base_channels=(base_out, base_in),
                                     depth=slot("shortcut")) if c_in != c_out else None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(pre)))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    def __init__(self, info: DataInfo, depth: int, widen: int, dropout: float, width_mult: int, width: int):
        super().__init__()
        blocks_per_stage = (depth - 4) // 6
        self.stem = SharedConv2d(info.in_channels, 16, 3, padding=1, base_channels=(16, info.in_channels))
        blocks = []
        c_in = base_in = 16
        for s, (base, stride) in enumerate(zip((width * widen, 2 * width * widen, 4 * width * widen), (1, 2, 2)),
                                           start=1):
            for b in range(blocks_per_stage):
                blocks.append(PreActBlock(c_in, base * width_mult, stride if b == 0 else 1, dropout,
                                          None if b == 0 else f"stage{s}", base_in, base, s, b))
                c_in, base_in = base * width_mult, base
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
def wrn(info: DataInfo, depth: Annotated[int, Range(ge=10)] = 28, widen: Annotated[int, Range(ge=1)] = 10,
        dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0, width_mult: Annotated[int, Range(ge=1)] = 1,
        width: Annotated[int, Range(ge=1), Width()] = 16) -> WideResNet:
    """depth: L (6N + 4); widen: w; dropout: before a block's second conv (0.3 for the paper's '*' rows);
    width_mult: m, RepeatNet's k_rep (stages nwm, 2nwm, 4nwm, widened from their m = 1 shapes); width: n, the
    unit of the stages' widths (16 = WRN-L-w; at widen 1 the knob matched budgets vary channel by channel)."""
    if depth < 10 or (depth - 4) % 6:
        valid = ", ".join(str(6 * n + 4) for n in range(1, 7))
        raise ConfigError(f"model.depth={depth}: (depth-4) must be a positive multiple of 6; "
                          f"valid depths: {valid}, ...")
    if widen < 1:
        raise ConfigError(f"model.widen={widen}: the widen factor must be a positive integer")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout={dropout}: must be in [0, 1)")
    return WideResNet(info, depth, widen, dropout, width_mult, width)
