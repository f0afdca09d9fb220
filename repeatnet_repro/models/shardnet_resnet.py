"""ShardNet's ResNets: Eb-ResNet(p) / SLb-ResNet(n) for CIFAR, E- / SL-ResNet-34/50(n) beyond.

Unlike He et al.'s ResNets, stages change width and resolution between the blocks, never inside
them: a 1x1 "conv1" (linear: no BN, no ReLU) then a 2x max-pool (ShardNet Tables 4, 5). The E
layout widens the stages (p, 2p, 4p on CIFAR; 64..512 on ImageNet); the `uniform` layout keeps
every stage at width n, which turns the 1x1 transitions into SL's n -> n blending layers and
makes all blocks the same shape. Block convs of equal shape form one sharing group (`conv3_<x>`,
and for bottlenecks `reduce_<x>`, `expand_<x>`), so `sharing=hard` on the uniform layout shares
one conv3 across all basic blocks (SLb, SL-ResNet-34) or one whole bottleneck (SL-ResNet-50).
The stem and the 1x1 transitions are never in a group, except a CIFAR stem whose input is
zero-padded to n channels (`pad_input`): it then joins the shared conv3, as in SLb-ResNet.
Spatial convs keep a bias and 1x1 convs have none, the layout ShardNet's |W_conv| counts imply.
The final pooling is global (the paper's avgpool-8 on CIFAR; its "avgpool-3" on the 7x7 ImageNet
maps is ambiguous, and no printed count depends on it: ours). `width_mult` m widens every conv (and the
padded input) m times; each conv declares its m = 1 shape as `base_channels`, so `sharing=repeat
sharing.k_rep=m` (which sets m) is RepeatNet width scaling of the configured net. The CIFAR blocks declare
their place in the family (`CIFAR_DEPTHS`, b blocks per stage), so `sharing=repeat sharing.plan=depth
sharing.parent_depth=b'` makes a b-block net a depth-scaled b'-block one (sharing/depth.py).
Initialisation, where ShardNet is silent, is our choice, measured on real CIFAR-10 at Table 7a's SGD lr 0.05
(results/runs/curated/shardnet_identity_start): a net whose blocks all share one conv3 (the SL rows) starts every
block as the identity, its last BN scale at 0 (Goyal et al. 2017; torchvision's zero_init_residual): with scale 1
the shared SLb-ResNet(n=64, b=7) diverged in its first epoch (train loss 4957: one conv3 adds the same, correlated
branch 43 times), with 0 it trained. The unshared rows (E/Eb-ResNet, ResNet*) are standard He-init ResNets, BN
scale 1 (the default, `zero_init_residual=false`): the measurement gives them no reason to differ. The linear 1x1
layers (no BN, no ReLU after them) start with Glorot's gain-1 init in both ShardNet families (VGGNet's blending
layers too), so they do not double the signal's power each as He's ReLU gain would.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, List, Optional, Tuple

import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, OneOf, Range, Width
from ..sharing import DepthFamily, DepthSlot, SharedConv2d, stage_blocks
from .channel_pad import ChannelPad, check_pad_input
from .registry import MODELS

#: the linear 1x1 layers' init (module docstring)
LINEAR_INIT = "xavier_uniform"

#: Eb / SLb-ResNet: b basic blocks in each of 3 stages, b = model.blocks
CIFAR_DEPTHS = DepthFamily("model.blocks", stage_blocks(lambda b: b if b >= 1 else None, 3), "b >= 1 blocks per stage")


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN plus identity, then ReLU; both convs in group `conv3_<width>`."""

    def __init__(self, width: int, base: int, slot: Optional[Tuple[int, int]] = None):
        """slot: (stage, block) in the CIFAR family's depth layout (None: a family without one)."""
        super().__init__()
        group = f"conv3_{width}"

        def depth(role: str) -> Optional[DepthSlot]:
            return DepthSlot(CIFAR_DEPTHS, *slot, role) if slot else None

        self.conv1 = SharedConv2d(width, width, 3, padding=1, bias=True, group=group, base_channels=(base, base),
                                  depth=depth("conv1"))
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = SharedConv2d(width, width, 3, padding=1, bias=True, group=group, base_channels=(base, base),
                                  depth=depth("conv2"))
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(out)))


class Bottleneck(nn.Module):
    """1x1 4x -> x, conv3 x -> x, 1x1 x -> 4x (each with BN; ReLU after the first two) plus identity."""

    def __init__(self, width: int, base: int):
        super().__init__()
        self.reduce = SharedConv2d(4 * width, width, 1, group=f"reduce_{width}", base_channels=(base, 4 * base))
        self.bn1 = nn.BatchNorm2d(width)
        self.conv = SharedConv2d(width, width, 3, padding=1, bias=True, group=f"conv3_{width}",
                                 base_channels=(base, base))
        self.bn2 = nn.BatchNorm2d(width)
        self.expand = SharedConv2d(width, 4 * width, 1, group=f"expand_{width}", base_channels=(4 * base, base))
        self.bn3 = nn.BatchNorm2d(4 * width)

    def forward(self, x):
        out = F.relu(self.bn1(self.reduce(x)))
        out = F.relu(self.bn2(self.conv(out)))
        return F.relu(x + self.bn3(self.expand(out)))


class ShardResNet(nn.Module):
    """Stem, then per stage s: blocks `block<s>_<j>`, and between stages a 1x1 `transition<s>` and a
    2x max-pool; global average pool, FC. `stages` are the m = 1 widths, each conv m times as wide."""

    def __init__(self, info: DataInfo, stem_kernel: int, stem_stride: int, stem_pool: bool,
                 pad_to: Optional[int], stages: List[int], blocks: int, bottleneck: bool, width_mult: int = 1,
                 depth_slots: bool = False, zero_init_residual: bool = False):
        super().__init__()
        m = width_mult
        self.pad = ChannelPad(pad_to * m) if pad_to is not None else nn.Identity()
        base_in, base = pad_to or info.in_channels, stages[0]
        c_in = base_in * m if pad_to is not None else base_in
        stem: "OrderedDict[str, nn.Module]" = OrderedDict()
        stem["conv"] = SharedConv2d(c_in, base * m, stem_kernel, stride=stem_stride, padding=stem_kernel // 2,
                                    bias=True, group=None if pad_to is None else f"conv3_{base * m}",
                                    base_channels=(base, base_in))
        stem["bn"], stem["relu"] = nn.BatchNorm2d(base * m), nn.ReLU(inplace=True)
        if stem_pool:
            stem["pool"] = nn.MaxPool2d(2)
        expansion = 4 if bottleneck else 1
        if bottleneck:  # ResNet-50's conv1-(4x) after the stem, into the bottleneck width
            stem["expand"] = SharedConv2d(base * m, expansion * base * m, 1, base_channels=(expansion * base, base),
                                          init=LINEAR_INIT)
        self.stem = nn.Sequential(stem)
        body: "OrderedDict[str, nn.Module]" = OrderedDict()
        for s, base in enumerate(stages, start=1):
            for j in range(1, blocks + 1):
                body[f"block{s}_{j}"] = Bottleneck(base * m, base) if bottleneck else \
                    BasicBlock(base * m, base, (s, j - 1) if depth_slots else None)
            if s < len(stages):
                body[f"transition{s}"] = SharedConv2d(expansion * base * m, expansion * stages[s] * m, 1,
                                                      base_channels=(expansion * stages[s], expansion * base),
                                                      init=LINEAR_INIT)
                body[f"pool{s}"] = nn.MaxPool2d(2)
        self.body = nn.Sequential(body)
        if zero_init_residual:  # every block starts as the identity
            for block in body.values():
                if isinstance(block, (BasicBlock, Bottleneck)):
                    nn.init.zeros_((block.bn3 if bottleneck else block.bn2).weight)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(expansion * stages[-1] * m, info.num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.body(self.stem(self.pad(x)))).flatten(1))


def _check_common(info: DataInfo, width: int, min_size: int, what: str) -> None:
    if width < 1:
        raise ConfigError(f"model.width={width}: must be a positive number of channels")
    if info.image_size < min_size:
        raise ConfigError(f"{what} halves the image down to 1/{min_size}; dataset image_size="
                          f"{info.image_size} is too small (need >= {min_size})")


@MODELS.register("resnet_cifar")
def resnet_cifar(info: DataInfo, width: Annotated[int, Range(ge=1), Width()] = 16, blocks: Annotated[int, Range(ge=1)] = 3,
                 uniform: bool = False, pad_input: bool = False,
                 width_mult: Annotated[int, Range(ge=1)] = 1, zero_init_residual: bool = False) -> ShardResNet:
    """width: p (E layout: stages p, 2p, 4p) or n (uniform); blocks: b basic blocks per stage;
    uniform: every stage at n with n -> n blending transitions (SLb); pad_input: zero-pad the image
    to n channels so the stem is n -> n (SLb); width_mult: m, RepeatNet's k_rep (every conv m x wider);
    zero_init_residual: true starts each block's last BN scale at 0 (the shared SL rows), false (default) at 1
    (module docstring)."""
    _check_common(info, width, 4, "model=resnet_cifar (two max-pools)")
    if blocks < 1:
        raise ConfigError(f"model.blocks={blocks}: b must be >= 1 (the paper uses 3, 5, 7)")
    check_pad_input(info, width, uniform, pad_input)
    stages = [width] * 3 if uniform else [width, 2 * width, 4 * width]
    return ShardResNet(info, 3, 1, False, width if pad_input else None, stages, blocks,
                       bottleneck=False, width_mult=width_mult, depth_slots=True,
                       zero_init_residual=zero_init_residual)


@MODELS.register("resnet_imagenet")
def resnet_imagenet(info: DataInfo, depth: Annotated[int, OneOf((34, 50))] = 34,
                    width: Annotated[int, Range(ge=1), Width()] = 64,
                    uniform: bool = False, stem: Annotated[Optional[str], OneOf(("conv3", "conv7"))] = None,
                    width_mult: Annotated[int, Range(ge=1)] = 1, zero_init_residual: bool = False) -> ShardResNet:
    """depth: 34 (basic blocks) or 50 (bottlenecks), 4 blocks in every stage; width: the first
    stage's width (E layout: x, 2x, 4x, 8x; 64 = E-ResNet) or n (uniform: SL-ResNet-34/50(n));
    stem: conv7 (stride 2 + max-pool, ImageNet) | conv3 (stride 1, no max-pool, Tiny ImageNet's
    56x56 crops); null = conv7 for images of 128 px and more, conv3 below; width_mult: m,
    RepeatNet's k_rep (every conv m x wider); zero_init_residual: true starts each block's last BN
    scale at 0 (the shared SL rows), false (default) at 1 (module docstring)."""
    if depth not in (34, 50):
        raise ConfigError(f"model.depth={depth}: valid depths are 34 (basic blocks) and 50 "
                          "(bottleneck blocks)")
    if stem is None:
        stem = "conv7" if info.image_size >= 128 else "conv3"
    if stem not in ("conv3", "conv7"):
        raise ConfigError(f"model.stem={stem}: valid stems are conv3, conv7 (or null)")
    big = stem == "conv7"
    _check_common(info, width, 32 if big else 8,
                  f"model=resnet_imagenet with model.stem={stem} ({'5' if big else '3'} downsamplings)")
    stages = [width] * 4 if uniform else [width, 2 * width, 4 * width, 8 * width]
    return ShardResNet(info, 7 if big else 3, 2 if big else 1, big, None, stages, 4,
                       bottleneck=depth == 50, width_mult=width_mult, zero_init_residual=zero_init_residual)
