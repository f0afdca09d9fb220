"""ShardNet's VGGNet family: VGG-16 (the VGGNet* baseline) and E / S / SL / SL-l-VGGNet(n).

One topology covers the family (ShardNet Table 3): five blocks of conv3(bias)-BN-ReLU, a 2x
max-pool after each, and the dataset's fully connected head. The variants are options of it:
`uniform` puts every conv at width n (E-VGGNet), `pad_input` zero-pads the image to n channels
so the first conv is n -> n too, `blend` adds ShardNet's unshared 1x1 "linear" conv (no bias, no
BN/ReLU; Glorot-initialised like the ResNets' linear layers, models/shardnet_resnet.py) before the max-pools of
blocks 1-4, and `layers_per_block` sets l of SL-l. Which convs
actually share is the sharing scheme's business: convs of equal shape form the group
`conv3_<width>`, so `sharing=hard` on the padded uniform layout is S-VGGNet's single shared conv.
`width_mult` m widens every conv (and the padded input) m times from its declared m = 1 shape
(`base_channels`): RepeatNet width scaling with `sharing=repeat sharing.k_rep=m`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Dict, List, Optional, Tuple

from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, OneOf, Range, Width
from ..sharing import SharedConv2d
from .channel_pad import ChannelPad, check_pad_input
from .registry import MODELS
from .shardnet_resnet import LINEAR_INIT

VGG16_LAYERS = (2, 2, 3, 3, 3)
VGG16_WIDTH_FACTORS = (1, 2, 4, 8, 8)  # 64-128-256-512-512 at width 64

# Fully connected head per data set (ShardNet Table 3): hidden sizes, and whether the last
# max-pool is kept (Tiny ImageNet drops it, so FC1 sees an n*3*3 feature map).
HEADS: Dict[str, Tuple[Tuple[int, ...], bool]] = {
    "cifar10": ((512, 512), True),
    "cifar100": ((1024, 1024), True),
    "tinyimagenet": ((2048,), False),
}
HEAD_BY_CLASSES = {10: "cifar10", 100: "cifar100", 200: "tinyimagenet"}


class VGGNet(nn.Module):
    """Feature extractor of conv blocks, then FC-ReLU-Dropout layers and a final FC."""

    def __init__(self, info: DataInfo, widths: List[List[int]], pad_to: Optional[int], blend: bool,
                 hidden: Tuple[int, ...], last_pool: bool, dropout: float, width_mult: int = 1):
        super().__init__()
        m = width_mult
        self.pad = ChannelPad(pad_to * m) if pad_to is not None else nn.Identity()
        layers: "OrderedDict[str, nn.Module]" = OrderedDict()
        base_in = pad_to or info.in_channels
        c_in = base_in * m if pad_to is not None else base_in
        size = info.image_size
        for b, block in enumerate(widths, start=1):
            for i, base in enumerate(block, start=1):
                width = base * m
                group = f"conv3_{width}" if c_in == width else None
                layers[f"conv{b}_{i}"] = SharedConv2d(c_in, width, 3, padding=1, bias=True, group=group,
                                                      base_channels=(base, base_in))
                layers[f"bn{b}_{i}"] = nn.BatchNorm2d(width)
                layers[f"relu{b}_{i}"] = nn.ReLU(inplace=True)
                c_in, base_in = width, base
            if blend and b < len(widths):
                layers[f"blend{b}"] = SharedConv2d(c_in, c_in, 1, base_channels=(base_in, base_in), init=LINEAR_INIT)
            if b < len(widths) or last_pool:
                layers[f"pool{b}"] = nn.MaxPool2d(2)
                size //= 2
        self.features = nn.Sequential(layers)
        fcs: List[nn.Module] = []
        features = c_in * size * size
        for h in hidden:
            fcs += [nn.Linear(features, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            features = h
        fcs.append(nn.Linear(features, info.num_classes))
        self.classifier = nn.Sequential(*fcs)

    def forward(self, x):
        return self.classifier(self.features(self.pad(x)).flatten(1))


@MODELS.register("vggnet")
def vggnet(info: DataInfo, width: Annotated[int, Range(ge=1), Width()] = 64, uniform: bool = False, pad_input: bool = False,
           blend: bool = False, layers_per_block: Annotated[Optional[int], Range(ge=1)] = None, head: Annotated[Optional[str], OneOf(("cifar10", "cifar100", "tinyimagenet"))] = None,
           dropout: Annotated[float, Range(ge=0, lt=1)] = 0.5, width_mult: Annotated[int, Range(ge=1)] = 1) -> VGGNet:
    """width: n (uniform) or the first block's width (VGG-16 doubling, 64 = VGG-16);
    uniform: every conv n -> n (E/S/SL); pad_input: zero-pad the image to n channels (S/SL);
    blend: SL's 1x1 blending convs; layers_per_block: l of SL-l (null = VGG-16's 2,2,3,3,3);
    head: cifar10 | cifar100 | tinyimagenet (null = by the dataset's class count 10/100/200);
    dropout: after every FC but the last (rate not given by the paper: ours, VGG's 0.5);
    width_mult: m, RepeatNet's k_rep (every conv m x wider, from its m = 1 shape)."""
    if width < 1:
        raise ConfigError(f"model.width={width}: must be a positive number of channels")
    if layers_per_block is not None and layers_per_block < 1:
        raise ConfigError(f"model.layers_per_block={layers_per_block}: must be >= 1 (or null for "
                          "VGG-16's 2,2,3,3,3)")
    check_pad_input(info, width, uniform, pad_input)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout={dropout}: must be in [0, 1)")
    if head is None:
        if info.num_classes not in HEAD_BY_CLASSES:
            raise ConfigError(
                f"model.head=null picks the paper's head by class count (10, 100, 200), but the "
                f"dataset has {info.num_classes} classes; set model.head to one of {sorted(HEADS)}")
        head = HEAD_BY_CLASSES[info.num_classes]
    if head not in HEADS:
        raise ConfigError(f"model.head={head}: valid heads are {sorted(HEADS)} (or null)")
    hidden, last_pool = HEADS[head]
    pools = len(VGG16_LAYERS) - (0 if last_pool else 1)
    if info.image_size < 2 ** pools:
        raise ConfigError(f"model=vggnet with model.head={head} has {pools} max-pools; dataset "
                          f"image_size={info.image_size} is too small (need >= {2 ** pools})")
    counts = [layers_per_block] * len(VGG16_LAYERS) if layers_per_block else list(VGG16_LAYERS)
    factors = [1] * len(counts) if uniform else list(VGG16_WIDTH_FACTORS)
    widths = [[width * f] * c for f, c in zip(factors, counts)]
    return VGGNet(info, widths, width if pad_input else None, blend, hidden, last_pool, dropout, width_mult)
