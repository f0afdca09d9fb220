"""Weight sharing as a reparametrisation of a model's convolution weights."""
from .base import SCHEMES, SharedWeights, apply_sharing, shared_convs
from .layers import SharedConv2d

__all__ = ["SCHEMES", "SharedConv2d", "SharedWeights", "apply_sharing", "shared_convs"]
