"""The rotation-equivariant CNN (RE-CNN) of RepeatNet's Table 3, built with e2cnn.

The rot-MNIST layout of models/rotmnist.py with steerable R2Conv layers on the rotation group C_N:
regular fields round(c * [16, 24, 32, 32, 48, 64]) (no bias), InnerBatchNorm + ELU, pointwise
max-pools, spatial average pool, group pooling and the same FC head. c = sqrt(4 / N) by default
(C4: 1, C8: sqrt(2)/2, C16: 1/2), half the channels of the e2cnn paper's model, so the expanded
widths are C4 64..256, C8 88..360, C16 128..512. The filter bases (radii, widths, frequency
cut-offs) follow the e2cnn paper's rot-MNIST model.

Each R2Conv is a `SharedR2Conv`: its free parameters, the steerable-basis coefficients, live in the sharing
scheme's bank, so |W_conv| counts them and R2Convs between equal field types (group `regular<n>_k<kernel>`)
can share: `sharing=hard` ties their coefficients, `sharing=soft` mixes templates of coefficients.
`sharing=repeat` is refused (SharedR2Conv.repeat_refusal says why). The default fields have one such conv
(32 -> 32), so hard and soft sharing need `fields` with repeated counts, e.g. [16, 32, 32, 32, 48, 64].
"""
from __future__ import annotations

import math
from typing import Annotated, List, Optional

from torch import nn

from ..data.base import DataInfo
from ..registry import ConfigError, OneOf, Range
from ..sharing import SharedR2Conv
from .registry import MODELS
from .rotmnist import KERNELS, PADDINGS, POOL_AFTER, check_image_size, rotmnist_head

FIELDS = (16, 24, 32, 32, 48, 64)


def _basis(kernel: int) -> dict:
    """Sampling rings, Gaussian widths and angular frequency cut-off of a 7x7 or 5x5 steerable filter."""
    if kernel == 7:
        return dict(rings=[0, 1, 2, 3], sigma=[0.6, 0.6, 0.6, 0.4],
                    frequencies_cutoff=lambda r: 0 if r == 0 else (3 if r == 2 else 2))
    return dict(rings=[0, 1, 2], sigma=[0.6, 0.6, 0.4], frequencies_cutoff=lambda r: 0 if r == 0 else 2)


class ReCNN(nn.Module):
    """R2Conv-InnerBN-ELU x 6 on regular fields of C_N; invariant features by group pooling."""

    def __init__(self, info: DataInfo, N: int, fields: List[int], pool_kernel: int):
        from e2cnn import gspaces
        from e2cnn import nn as enn

        super().__init__()
        gspace = gspaces.Rot2dOnR2(N=N)
        self.input_type = enn.FieldType(gspace, info.in_channels * [gspace.trivial_repr])
        layers: List[nn.Module] = []
        in_type, previous = self.input_type, None
        for i, (n_fields, k, p) in enumerate(zip(fields, KERNELS, PADDINGS), start=1):
            out_type = enn.FieldType(gspace, n_fields * [gspace.regular_repr])
            group = f"regular{n_fields}_k{k}" if previous == n_fields else None
            layers += [SharedR2Conv(in_type, out_type, k, padding=p, group=group, **_basis(k)),
                       enn.InnerBatchNorm(out_type), enn.ELU(out_type, inplace=True)]
            if i in POOL_AFTER:
                layers.append(enn.PointwiseMaxPool(out_type, kernel_size=pool_kernel, stride=2,
                                                   padding=(pool_kernel - 1) // 2))
            in_type, previous = out_type, n_fields
        pooled = enn.GroupPooling(in_type)
        layers += [enn.PointwiseAdaptiveAvgPool(in_type, 1), pooled]
        self.features = nn.Sequential(*layers)  # GeometricTensors in and out; SharedR2Conv is no EquivariantModule
        self.head = rotmnist_head(pooled.out_type.size, info.num_classes)

    def forward(self, x):
        from e2cnn.nn import GeometricTensor

        return self.head(self.features(GeometricTensor(x, self.input_type)).tensor.flatten(1))


@MODELS.register("recnn")
def recnn(info: DataInfo, N: Annotated[int, Range(ge=1)] = 4,
          channel_scale: Annotated[Optional[float], Range(gt=0)] = None,
          pool_kernel: Annotated[int, OneOf((2, 3))] = 2,
          fields: Annotated[Optional[List[int]], Range(ge=1)] = None) -> ReCNN:
    """N: order of the rotation group C_N; channel_scale: c (null = sqrt(4 / N), the paper's choice);
    fields: the six layers' numbers of regular fields (null = round(c * [16, 24, 32, 32, 48, 64])).

    pool_kernel: 2 = the RepeatNet code's 2x2 stride-2 max-pools (its FLOPs); on the odd feature maps
    (25 -> 12) they drop a border row and column, so 90-degree rotations are only approximately
    symmetries. 3 = centred 3x3 stride-2 pools with padding 1 (25 -> 13): exactly C4-equivariant.
    """
    if pool_kernel not in (2, 3):
        raise ConfigError(f"model.pool_kernel={pool_kernel}: valid values are 2 (RepeatNet code) and 3 "
                          "(centred, exactly equivariant)")
    if N < 1:
        raise ConfigError(f"model.N={N}: the rotation group order must be a positive integer (paper: 4, 8, 16)")
    if fields is not None:
        if channel_scale is not None:
            raise ConfigError(f"model.fields={list(fields)} and model.channel_scale={channel_scale} are both set: "
                              "give the field counts or the scale of the paper's, not both")
        if len(fields) != len(FIELDS):
            raise ConfigError(f"model.fields={list(fields)}: give {len(FIELDS)} numbers of regular fields, "
                              "one per layer")
        fields = list(fields)
    else:
        c = math.sqrt(4 / N) if channel_scale is None else channel_scale
        fields = [round(c * f) for f in FIELDS]
        if min(fields) < 1:
            raise ConfigError(f"model.channel_scale={c}: gives fields {fields}; every layer needs >= 1 field")
    check_image_size(info)
    return ReCNN(info, N, fields, pool_kernel)
