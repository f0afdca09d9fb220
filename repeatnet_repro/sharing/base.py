"""Weight banks and the container that holds them for a model.

`apply_sharing(model, cfg)` is the single entry point: it finds every `SharedConv2d`, asks the
scheme named by `cfg.name` (registry `SCHEMES`) to build banks for them, and stores the result as
`model.sharing` (a `SharedWeights`). Training code only talks to `SharedWeights`.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from ..registry import Registry
from .layers import SharedConv2d

SCHEMES = Registry("sharing")


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


class SharedWeights(nn.Module):
    """All weight banks of one model, plus the scheme-level hooks the trainer calls."""

    def __init__(self, scheme: str, banks: Dict[str, nn.Module]):
        super().__init__()
        self.scheme = scheme
        self.banks = nn.ModuleDict(banks)

    def regularization(self) -> torch.Tensor:
        """Extra loss term (soft sharing's recurrence regulariser); zero otherwise."""
        terms = [b.regularization() for b in self.banks.values() if hasattr(b, "regularization")]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def no_decay_parameters(self) -> List[nn.Parameter]:
        """Parameters the optimiser must not weight-decay (declared by the banks themselves)."""
        out: List[nn.Parameter] = []
        for b in self.banks.values():
            out.extend(getattr(b, "no_decay_parameters", lambda: [])())
        return out

    def summary(self) -> Dict[str, Any]:
        return {name: getattr(b, "summary", lambda: {})() for name, b in self.banks.items()}


def shared_convs(model: nn.Module) -> List[SharedConv2d]:
    """Every SharedConv2d in declaration order, each tagged with its qualified name."""
    layers = []
    for qname, m in model.named_modules():
        if isinstance(m, SharedConv2d):
            m.layer_name = qname
            layers.append(m)
    return layers


def apply_sharing(model: nn.Module, cfg: Any) -> nn.Module:
    """Build the banks of the configured scheme and attach them to `model` (returned)."""
    layers = shared_convs(model)
    banks = SCHEMES.build(cfg, layers, skip=1)
    model.sharing = SharedWeights(cfg["name"], banks)
    return model


class PerLayerBank(nn.Module):
    """No sharing: one parameter per layer."""

    def __init__(self, layers: List[SharedConv2d]):
        super().__init__()
        self.weights = nn.ParameterList()
        for slot, layer in enumerate(layers):
            self.weights.append(nn.Parameter(init_weight_(torch.empty(layer.weight_shape), layer.init)))
            layer.attach(self, slot)

    def weight(self, slot: int) -> torch.Tensor:
        return self.weights[slot]


@SCHEMES.register("none")
def no_sharing(layers: List[SharedConv2d]) -> Dict[str, nn.Module]:
    """Every layer keeps its own weight."""
    return {"layers": PerLayerBank(layers)} if layers else {}
