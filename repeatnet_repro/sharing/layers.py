"""The layer types models declare: each asks a weight bank, chosen by the sharing scheme, for its weight.

`SharedLayer` is what a bank talks to: a weight shape, how a fresh weight is initialised, a sharing group
and a slot in the bank. `SharedConv2d` convolves with a filter; `SharedR2Conv` (e2cnn) convolves with the
filter its steerable basis expands from a coefficient vector, so banks share coefficients exactly as they
share filters.
"""
from __future__ import annotations

import abc
import math
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .depth import DepthSlot


def init_weight_(w: torch.Tensor, how: str) -> torch.Tensor:
    """Initialise a conv weight the way its layer declared."""
    if how == "kaiming_normal":
        return nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
    if how == "kaiming_normal_fan_out":
        return nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    if how == "xavier_uniform":
        return nn.init.xavier_uniform_(w)
    if how == "torch_default":
        return nn.init.kaiming_uniform_(w, a=5 ** 0.5)
    raise ValueError(f"unknown conv init '{how}'; valid: kaiming_normal, kaiming_normal_fan_out, "
                     "xavier_uniform, torch_default")


class SharedLayer(nn.Module, abc.ABC):
    """A layer whose weight lives in a bank: shape, init, sharing `group`, and the bank plumbing.

    `repeat_refusal`: why RepeatNet's psi_beta cannot produce this layer's weight (None: it can).
    """

    repeat_refusal: ClassVar[Optional[str]] = None

    def __init__(self, group: Optional[str], kernel_size: int):
        super().__init__()
        self.group = group
        self.kernel_size = kernel_size
        self.base_channels: Optional[Tuple[int, int]] = None
        self.remainder = False
        self.depth: Optional["DepthSlot"] = None
        self.bias: Optional[nn.Parameter] = None
        self.layer_name: Optional[str] = None  # qualified module name, set by the scheme
        self._bank = None  # kept out of the module tree: the bank is owned by the model's `sharing`
        self.slot: Optional[int] = None

    @property
    @abc.abstractmethod
    def weight_shape(self) -> Tuple[int, ...]:
        """The shape of the tensor the bank holds for this layer."""

    @abc.abstractmethod
    def init_weight_(self, weight: torch.Tensor) -> torch.Tensor:
        """Initialise a fresh weight of `weight_shape` the way this layer declared (in place)."""

    def attach(self, bank: nn.Module, slot: int) -> None:
        object.__setattr__(self, "_bank", bank)
        self.slot = slot

    @property
    def bank(self) -> nn.Module:
        if self._bank is None:
            raise RuntimeError(
                f"layer {self.layer_name or '?'} has no weight bank: build models through "
                "repeatnet_repro.models.build_model (which applies the sharing scheme)"
            )
        return self._bank

    @property
    def weight(self) -> torch.Tensor:
        return self.bank.weight(self.slot)


class SharedConv2d(SharedLayer):
    """A 2-D convolution that owns its bias but asks its weight bank for its weight.

    Models declare topology only: shape, stride, padding, whether a bias is kept, the sharing
    `group` (layers of one group have the same weight shape and may share) and, for width-scaled
    models, `base_channels` = (out, in) of this layer in the unscaled (k = 1) network (`remainder`:
    its width may be no multiple of that, RepeatNet's remainder rule) and `depth`, its place in a
    family whose depth is a number of blocks per stage (sharing/depth.py). The sharing scheme later
    attaches a bank and a slot (`attach`); `weight` is then whatever the bank says.
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
        remainder: bool = False,
        depth: Optional["DepthSlot"] = None,
    ):
        super().__init__(group, kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.padding = stride, padding
        self.base_channels = tuple(base_channels) if base_channels is not None else None
        self.remainder = remainder
        self.depth = depth
        self.init = init
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        if self.bias is not None and init == "torch_default":
            bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def weight_shape(self) -> Tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)

    def init_weight_(self, weight: torch.Tensor) -> torch.Tensor:
        return init_weight_(weight, self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, "
                f"group={self.group}")


class SharedR2Conv(SharedLayer):
    """e2cnn's R2Conv (no bias) whose free parameters, the steerable-basis coefficients, live in a bank.

    The layer keeps R2Conv's basis expansion only: its weight is a coefficient vector of the basis'
    dimension, initialised with e2cnn's generalised He init, and the filter it convolves with is the
    expansion of that vector, recomputed at every call (R2Conv caches it in eval mode; a bank's weight
    may change without the layer knowing). Convs between equal field types with equal bases have equal
    coefficient shapes and can share. Takes and returns GeometricTensors.
    """

    repeat_refusal = (
        "it is an e2cnn R2Conv whose weight is a vector of steerable-basis coefficients; psi_beta (RepeatNet "
        "eq. 1) acts elementwise on filters, and psi_beta of a C_N-steerable filter leaves the span of the "
        "steerable basis (for N > 4 it is not even C_N-equivariant), so the RE-CNN has no repeat plan "
        "(RepeatNet's Table 3 widens the plain CNN instead: model=cnn_rotmnist_repeat_c<N>)")

    def __init__(self, in_type: Any, out_type: Any, kernel_size: int, padding: int = 0,
                 group: Optional[str] = None, **basis: Any):
        from e2cnn import nn as enn

        # e2cnn 0.2 indexes its basis masks with uint8 (torch: "use a dtype torch.bool instead"); harmless, and
        # otherwise printed once per layer built: ignored for that message from that e2cnn module only
        warnings.filterwarnings("ignore", message="indexing with dtype torch.uint8 is now deprecated",
                                category=UserWarning, module=r"e2cnn\.nn\.modules\.r2_conv\.basisexpansion_singleblock")
        super().__init__(group, kernel_size)
        self.in_type, self.out_type, self.padding = in_type, out_type, padding
        conv = enn.R2Conv(in_type, out_type, kernel_size=kernel_size, padding=padding, bias=False,
                          initialize=False, **basis)
        self.basisexpansion = conv.basisexpansion

    @property
    def weight_shape(self) -> Tuple[int]:
        return (self.basisexpansion.dimension(),)

    def init_weight_(self, weight: torch.Tensor) -> torch.Tensor:
        from e2cnn.nn.init import generalized_he_init

        if weight.is_meta:  # no values to draw (and e2cnn's cache would keep meta variances for later builds)
            return weight
        with torch.no_grad():  # cache: a group's templates share one basis, whose variances cost seconds
            generalized_he_init(weight, self.basisexpansion, cache=True)
        return weight

    def filter(self) -> torch.Tensor:
        """The (out, in, k, k) filter the bank's coefficients expand to."""
        coefficients = self.weight
        if not torch.is_grad_enabled():  # nothing flows back; and FlopCounterMode's module hooks cannot take a
            coefficients = coefficients.detach()  # tensor that requires grad but has no grad_fn (no_grad views)
        expanded = self.basisexpansion(coefficients)
        return expanded.reshape(expanded.shape[0], expanded.shape[1], self.kernel_size, self.kernel_size)

    def forward(self, x: Any) -> Any:
        from e2cnn.nn import GeometricTensor

        assert x.type == self.in_type, f"layer {self.layer_name}: input field type differs from in_type"
        return GeometricTensor(F.conv2d(x.tensor, self.filter(), None, 1, self.padding), self.out_type)

    def extra_repr(self) -> str:
        return (f"{self.in_type.size} -> {self.out_type.size} channels, kernel_size={self.kernel_size}, "
                f"padding={self.padding}, coefficients={self.weight_shape[0]}, group={self.group}")
