"""Model topologies, found by name in `MODELS`; `build_model` also applies the sharing scheme.

e2cnn is imported when an RE-CNN is built, not at start-up (it costs seconds on every entrypoint call)."""
from . import convnet  # noqa: F401  (registration)
from . import pathfinder, recnn, resnet16, rotmnist, vgg, wrn, wrn_imagenet  # noqa: F401
from . import shardnet_resnet, vggnet  # noqa: F401
from .registry import MODELS, build_model

__all__ = ["MODELS", "build_model"]
