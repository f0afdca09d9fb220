"""Weight sharing as a reparametrisation of a model's convolution weights.

Schemes (registry `SCHEMES`, config group `sharing`): none, hard, soft, repeat. `fold` ties the
near-identical layers of a soft-shared model.
"""
from . import hard, repeat, soft  # noqa: F401  (registration)
from .base import SCHEMES, SharedWeights, WeightBank, apply_sharing, shared_convs
from .folding import fold
from .layers import SharedConv2d
from .repeat import psi
from .soft import layer_similarity, lsm

__all__ = ["SCHEMES", "SharedConv2d", "SharedWeights", "WeightBank", "apply_sharing", "fold",
           "layer_similarity", "lsm", "psi", "shared_convs"]
