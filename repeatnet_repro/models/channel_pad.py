"""ShardNet's padded input: the image zero-padded from 3 to n channels so even the first conv is n -> n
and can join the one shared layer (S-VGGNet, SLb-ResNet)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError


class ChannelPad(nn.Module):
    """Appends zero channels up to `channels`."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, 0, self.channels - x.shape[1]))

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def check_pad_input(info: DataInfo, width: int, uniform: bool, pad_input: bool) -> None:
    """pad_input only makes sense for a uniform network at least as wide as the image has channels."""
    if pad_input and not uniform:
        raise ConfigError("model.pad_input=true needs model.uniform=true: the input is padded to "
                          "the width n of a uniform network")
    if pad_input and info.in_channels > width:
        raise ConfigError(f"model.pad_input=true: the image has {info.in_channels} channels, more "
                          f"than model.width={width}; padding cannot shrink it")
