"""Weight banks and the container that holds them for a model.

`apply_sharing(model, cfg)` is the single entry point: it finds every `SharedLayer`, asks the
scheme named by `cfg.name` (registry `SCHEMES`) to build a `SharedWeights` for them, and stores it
as `model.sharing`. Training code only talks to `SharedWeights`; each layer only talks to its bank.
"""
from __future__ import annotations

import abc
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..engine.atomic import write_json
from ..registry import ConfigError, Registry
from .layers import SharedLayer, init_weight_  # noqa: F401  (init_weight_: the banks' import)

SCHEMES = Registry("sharing")
UNSHARED = "unshared"  # bank name of the layers a scheme leaves alone


class WeightBank(nn.Module, abc.ABC):
    """The real parameters behind some layers; layer `slot` convolves with `weight(slot)`.

    Subclasses create their parameters, then call `attach(layers)`. The defaults below are what a
    bank without extra loss terms, decay exemptions or artifacts says.
    """

    scheme = "none"

    def attach(self, layers: Sequence[SharedLayer]) -> None:
        self.layer_names = [layer.layer_name for layer in layers]
        for slot, layer in enumerate(layers):
            layer.attach(self, slot)

    @abc.abstractmethod
    def weight(self, slot: int) -> torch.Tensor:
        """The weight layer `slot` convolves with, computed from the bank's parameters (each subclass says how)."""

    def own_parameter(self, slot: int) -> Optional[nn.Parameter]:
        """The parameter that IS layer `slot`'s weight, or None when the weight is computed from others."""
        return None

    def per_forward(self, active: bool) -> None:
        """Open (True) or close a cache of the weights one forward pass uses, for banks that compute all their
        layers' weights in one op (soft sharing's A @ T); the model's hooks call it (apply_sharing)."""

    def regularization(self) -> Optional[torch.Tensor]:
        return None

    def no_decay_parameters(self) -> List[nn.Parameter]:
        return []

    def snapshot(self) -> Optional[Dict[str, Any]]:
        """What this bank saves as an epoch artifact (soft sharing: its LSM), or None."""
        return None

    def summary(self) -> Dict[str, Any]:
        return {"scheme": self.scheme, "layers": list(self.layer_names),
                "params": sum(p.numel() for p in self.parameters())}


class PerLayerBank(WeightBank):
    """No sharing: one parameter per layer, initialised as the layer declared."""

    def __init__(self, layers: Sequence[SharedLayer]):
        super().__init__()
        self.weights = nn.ParameterList(
            [nn.Parameter(layer.init_weight_(torch.empty(layer.weight_shape))) for layer in layers])
        self.attach(layers)

    def weight(self, slot: int) -> torch.Tensor:
        return self.weights[slot]

    def own_parameter(self, slot: int) -> nn.Parameter:
        return self.weights[slot]


class SharedWeights(nn.Module):
    """All weight banks of one model, plus the scheme-level hooks the trainer calls.

    `snapshot_epochs` / `snapshot_last`: after which epochs the banks' snapshots (soft sharing's
    LSMs) are written to `artifacts/<snapshot_dir>/epoch_<3-digit epoch>.json`, one key per bank.
    """

    def __init__(self, scheme: str, banks: Dict[str, WeightBank], snapshot_dir: str = "",
                 snapshot_epochs: Sequence[int] = (), snapshot_last: bool = False):
        super().__init__()
        self.scheme = scheme
        self.banks = nn.ModuleDict(banks)
        self.snapshot_dir = snapshot_dir
        self.snapshot_epochs = frozenset(snapshot_epochs)
        self.snapshot_last = snapshot_last

    def per_forward(self, active: bool) -> None:
        for bank in self.banks.values():
            bank.per_forward(active)

    def regularization(self) -> torch.Tensor:
        """Term to ADD to the loss (soft sharing's recurrence regulariser); zero otherwise."""
        terms = [t for t in (b.regularization() for b in self.banks.values()) if t is not None]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def no_decay_parameters(self) -> List[nn.Parameter]:
        """Parameters the optimiser must not weight-decay (declared by the banks themselves)."""
        return [p for b in self.banks.values() for p in b.no_decay_parameters()]

    def unique_parameters(self) -> List[nn.Parameter]:
        """Every real parameter of the banks once: what a shared conv costs."""
        return list(self.parameters())

    def summary(self) -> Dict[str, Any]:
        """JSON-able, one entry per bank (a sharing group, or the unshared layers)."""
        return {name: b.summary() for name, b in self.banks.items()}

    def snapshot(self) -> Dict[str, Any]:
        return {name: s for name, s in ((n, b.snapshot()) for n, b in self.banks.items()) if s is not None}

    def on_epoch_end(self, epoch: int, artifacts_dir: Path, last: bool = False) -> None:
        """Write the banks' snapshots if `epoch` is a listed one (or the last, when asked to)."""
        if not self.snapshot_dir or not (epoch in self.snapshot_epochs or (last and self.snapshot_last)):
            return
        state = self.snapshot()
        if state:
            write_json(Path(artifacts_dir) / self.snapshot_dir / f"epoch_{epoch:03d}.json",
                       {"epoch": epoch, "banks": state})


def shared_convs(model: nn.Module) -> List[SharedLayer]:
    """Every SharedLayer (SharedConv2d, SharedR2Conv) in declaration order, each tagged with its qualified name."""
    layers = []
    for qname, m in model.named_modules():
        if isinstance(m, SharedLayer):
            m.layer_name = qname
            layers.append(m)
    return layers


def require_layers(layers: Sequence[SharedLayer], scheme: str, grouped: bool) -> None:
    """A scheme other than `none` needs shared layers (and group tags, when it shares by group)."""
    if not layers:
        raise ConfigError(f"sharing={scheme}: the model has no shareable conv layers (no SharedLayer); "
                          "use sharing=none")
    if grouped and all(layer.group is None for layer in layers):
        raise ConfigError(f"sharing={scheme}: the model has no shareable groups (no conv layer declares "
                          "a sharing group); use sharing=none")


def split_groups(layers: Sequence[SharedLayer], scheme: str, allow_singletons: bool = False
                 ) -> Tuple[List[SharedLayer], "OrderedDict[str, List[SharedLayer]]"]:
    """(ungrouped layers, group name -> its layers in declaration order); one weight shape per group.

    Groups that all hold one layer would share nothing, so that is an error unless `allow_singletons`.
    """
    unshared: List[SharedLayer] = []
    groups: "OrderedDict[str, List[SharedLayer]]" = OrderedDict()
    for layer in layers:
        if layer.group is None:
            unshared.append(layer)
        elif layer.group == UNSHARED or "." in layer.group:
            raise ConfigError(f"layer {layer.layer_name}: sharing group name '{layer.group}' is reserved or "
                              "contains '.'; rename the group in the model")
        else:
            groups.setdefault(layer.group, []).append(layer)
    for name, members in groups.items():
        shapes = {m.weight_shape for m in members}
        if len(shapes) > 1:
            first = members[0]
            odd = next(m for m in members if m.weight_shape != first.weight_shape)
            raise ConfigError(
                f"sharing={scheme}: group '{name}' mixes weight shapes: {first.layer_name} has "
                f"{first.weight_shape} but {odd.layer_name} has {odd.weight_shape}; layers of one group "
                "must have one (out, in, k, k) shape — tag them with different groups in the model, "
                "or use sharing=none")
    if groups and not allow_singletons and all(len(members) == 1 for members in groups.values()):
        listed = ", ".join(f"{name} = {members[0].layer_name}" for name, members in groups.items())
        raise ConfigError(f"sharing={scheme}: every sharing group of this model holds a single layer ({listed}): "
                          "no two of its convs have one weight shape, so nothing would be shared; use a model "
                          "(or widths/depth) with repeated shapes, or set sharing.allow_singletons=true to run "
                          "it anyway")
    return unshared, groups


def with_unshared(unshared: Sequence[SharedLayer], banks: Dict[str, WeightBank]) -> Dict[str, WeightBank]:
    """The scheme's banks plus one plain bank for the layers it leaves alone (first, if any)."""
    return {UNSHARED: PerLayerBank(unshared), **banks} if unshared else dict(banks)


def _open_forward(model: nn.Module, args: Any) -> None:
    if not torch.compiler.is_compiling():  # compiled, inductor fuses the per-layer products itself
        model.sharing.per_forward(True)


def _close_forward(model: nn.Module, args: Any, output: Any) -> None:
    if not torch.compiler.is_compiling():
        model.sharing.per_forward(False)


def apply_sharing(model: nn.Module, cfg: Any) -> nn.Module:
    """Build the banks of the configured scheme and attach them to `model` (returned). Each forward of the model
    opens and closes the banks' per-forward caches (closed also when the forward raises)."""
    layers = shared_convs(model)
    model.sharing = SCHEMES.build(cfg, layers, skip=1)
    model.register_forward_pre_hook(_open_forward)
    model.register_forward_hook(_close_forward, always_call=True)
    return model


@SCHEMES.register("none")
def no_sharing(layers: List[SharedLayer]) -> SharedWeights:
    """Every layer keeps its own weight."""
    return SharedWeights("none", with_unshared(layers, {}))
