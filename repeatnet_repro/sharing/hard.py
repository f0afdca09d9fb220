"""Hard sharing (ShardNet): every layer of a group convolves with one and the same weight.

ShardNet shares whole layers, "completely specified by a set of weights and biases" (Sec. 3), and
counts a shared conv's bias once (S-VGGNet |W_conv| = 9n^2 + n): with `share_bias` (default) the
group's layers also use one bias Parameter (that of its first layer); without it each layer keeps its
own. BatchNorm is never shared (it lives in the model). Layers without a group keep their own weight.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from torch import nn

from ..registry import ConfigError
from .base import SCHEMES, SharedWeights, WeightBank, require_layers, split_groups, with_unshared
from .layers import SharedLayer


class TiedBank(WeightBank):
    """One weight for a whole group; gradients of every use accumulate into it."""

    scheme = "hard"

    def __init__(self, layers: Sequence[SharedLayer], share_bias: bool):
        super().__init__()
        self.shared = nn.Parameter(layers[0].init_weight_(torch.empty(layers[0].weight_shape)))
        self.shared_bias = share_bias and layers[0].bias is not None
        if share_bias and len({layer.bias is None for layer in layers}) > 1:
            raise ConfigError(f"sharing.share_bias=true: group '{layers[0].group}' mixes convs with and without "
                              "a bias; give all of them the same bias flag or set sharing.share_bias=false")
        if self.shared_bias:
            for layer in layers[1:]:
                layer.bias = layers[0].bias
        self.attach(layers)

    def weight(self, slot: int) -> torch.Tensor:
        return self.shared

    def own_parameter(self, slot: int) -> nn.Parameter:
        return self.shared

    def summary(self) -> Dict[str, Any]:
        out = super().summary()
        if self.shared_bias:
            out["params"] += self.shared.shape[0]
        return {**out, "shared_bias": self.shared_bias}


@SCHEMES.register("hard")
def hard(layers: List[SharedLayer], share_bias: bool = True, allow_singletons: bool = False) -> SharedWeights:
    """One weight per sharing group; share_bias: the group's convs also share one bias (ShardNet);
    allow_singletons: run a model whose groups all hold one layer (which shares nothing) instead of failing."""
    require_layers(layers, "hard", grouped=True)
    unshared, groups = split_groups(layers, "hard", allow_singletons)
    banks = {g: TiedBank(members, share_bias) for g, members in groups.items()}
    return SharedWeights("hard", with_unshared(unshared, banks))
