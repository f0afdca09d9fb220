"""The one convolution type models declare: its weight lives in a bank chosen by the sharing scheme."""
from __future__ import annotations

from typing import Optional, Tuple

import math

import torch
import torch.nn.functional as F
from torch import nn


class SharedConv2d(nn.Module):
    """A 2-D convolution that owns its bias but asks its weight bank for its weight.

    Models declare topology only: shape, stride, padding, whether a bias is kept, the sharing
    `group` (layers of one group have the same weight shape and may share) and, for width-scaled
    models, `base_channels` = (out, in) of this layer in the unscaled (k = 1) network. The sharing
    scheme later attaches a bank and a slot (`attach`); `weight` is then whatever the bank says.
    The bias starts at zero, or, with `init="torch_default"`, as nn.Conv2d's: U(+-1/sqrt(fan_in)).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = False,
        group: Optional[str] = None,
        base_channels: Optional[Tuple[int, int]] = None,
        init: str = "kaiming_normal",
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.group = group
        self.base_channels = tuple(base_channels) if base_channels is not None else None
        self.init = init
        self.layer_name: Optional[str] = None  # qualified module name, set by the scheme
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        if self.bias is not None and init == "torch_default":
            bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
            nn.init.uniform_(self.bias, -bound, bound)
        self._bank = None  # kept out of the module tree: the bank is owned by the model's `sharing`
        self.slot: Optional[int] = None

    @property
    def weight_shape(self) -> Tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)

    def attach(self, bank: nn.Module, slot: int) -> None:
        object.__setattr__(self, "_bank", bank)
        self.slot = slot

    @property
    def bank(self) -> nn.Module:
        if self._bank is None:
            raise RuntimeError(
                f"conv layer {self.layer_name or '?'} has no weight bank: build models through "
                "repeatnet_repro.models.build_model (which applies the sharing scheme)"
            )
        return self._bank

    @property
    def weight(self) -> torch.Tensor:
        return self.bank.weight(self.slot)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, "
                f"group={self.group}")
