"""The model registry: builders declare topology; `build_model` applies the sharing scheme."""
from __future__ import annotations

from typing import Any

from torch import nn

from ..data.base import DataInfo
from ..registry import Registry
from ..sharing import apply_sharing

MODELS = Registry("model")


def build_model(model_cfg: Any, sharing_cfg: Any, info: DataInfo) -> nn.Module:
    """Topology from `model_cfg` for data shaped like `info`, weights reparametrised by `sharing_cfg`.

    Builders take the `DataInfo` as first argument and their config keys as keywords.
    """
    model = MODELS.build(model_cfg, info, skip=1)
    return apply_sharing(model, sharing_cfg)
