"""Model topologies, found by name in `MODELS`; `build_model` also applies the sharing scheme."""
from . import convnet  # noqa: F401  (registration)
from .registry import MODELS, build_model

__all__ = ["MODELS", "build_model"]
