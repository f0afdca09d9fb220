"""Weight sharing as a reparametrisation of a model's convolution weights.

Schemes (registry `SCHEMES`, config group `sharing`): none, hard, soft, repeat. `fold` ties the
near-identical layers of a soft-shared model.
"""
from . import hard, repeat, soft  # noqa: F401  (registration)
from .base import SCHEMES, SharedWeights, WeightBank, apply_sharing, shared_convs
from .folding import fold
from .depth import DepthFamily, DepthSlot, stage_blocks
from .layers import SharedConv2d, SharedLayer, SharedR2Conv
from .repeat import psi
from .soft import layer_similarity, lsm

__all__ = ["SCHEMES", "DepthFamily", "DepthSlot", "SharedConv2d", "SharedLayer", "SharedR2Conv", "SharedWeights",
           "WeightBank", "apply_sharing", "fold", "layer_similarity", "lsm", "psi", "shared_convs", "stage_blocks"]
