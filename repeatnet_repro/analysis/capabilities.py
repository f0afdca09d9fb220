"""Which sharing scheme applies to which model, found by building every pair: the capability table.

`python -m repeatnet_repro.count --list` prints it and scripts/capabilities.py writes it to
docs/capabilities.md; tests/test_scheme_matrix.py checks the committed file against a regeneration and trains
every pair that applies. Each model of conf/model/ is built at its defaults on the first data set of DATASETS
it accepts, once per scheme probe (`probes`: every scheme at its defaults, repeat once per plan), on the meta
device where it can be. A probe applies when the scheme really shares weights (`no_op` says when it would
not); otherwise the ConfigError that refused it is the reason.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from omegaconf import DictConfig
from torch import nn

from ..config import CONF_DIR, compose
from ..data.base import DataInfo
from ..registry import ConfigError
from ..sharing import SCHEMES, shared_convs
from ..sharing.base import UNSHARED
from ..sharing.repeat import PLANS
from .counting import build_composed, conv_params, unshared_conv_params

#: data sets a model is probed on: the first one it builds with (pathfinder needs a segmentation task)
DATASETS = ("cifar10", "shortest_paths")
#: the width plan's probe multiplier (k_rep = 1 is the base model itself)
PROBE_K_REP = 2
#: each repeat plan's probe overrides; the depth plan's parent_depth is filled in per model (`shallowest`)
PLAN_PROBES = {"width": [f"sharing.k_rep={PROBE_K_REP}"], "depth": ["sharing.plan=depth"]}
#: the largest depth searched for the shallowest member of a model's depth family
MAX_DEPTH = 1000


def probes() -> Dict[str, List[str]]:
    """Scheme label -> its sharing overrides: none first, each scheme at its defaults, repeat once per plan."""
    out: Dict[str, List[str]] = {}
    for scheme in sorted(SCHEMES.choices(), key=lambda s: (s != "none", s == "repeat", s)):
        if scheme == "repeat":
            out.update({f"repeat, {plan} plan": ["sharing=repeat", *PLAN_PROBES[plan]] for plan in PLANS})
        else:
            out[scheme] = [f"sharing={scheme}"]
    return out


@dataclass
class Probe:
    """One model x scheme: the config, what it built (meta device where possible), or why it was refused."""

    model: str
    scheme: str
    overrides: List[str]
    config: DictConfig
    reason: Optional[str] = None
    groups: Dict[str, int] = field(default_factory=dict)  # bank -> layers it serves (the unshared ones left out)
    params_conv: int = 0
    unshared_conv: int = 0  # |W_conv| of the same layers, one weight each
    built: Optional[nn.Module] = None
    info: Optional[DataInfo] = None

    @property
    def applies(self) -> bool:
        return self.reason is None


def model_options() -> List[str]:
    """The options of the model group, conf/model/*.yaml."""
    return sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def no_op(scheme: str, model: nn.Module) -> Optional[str]:
    """Why a built model's scheme would share nothing, or None when it shares (scheme none never does)."""
    if scheme == "none":
        return None
    banks = {n: len(b.layer_names) for n, b in model.sharing.banks.items() if n != UNSHARED}
    if not banks:
        return "no layer gets a shared weight (every layer keeps its own)"
    if scheme in ("hard", "soft") and max(banks.values()) < 2:
        return "every sharing group holds a single layer"
    if conv_params(model) == unshared_conv_params(model):
        return "its |W_conv| equals the unshared layers' (nothing is shared)"
    return None


def shallowest(model: nn.Module) -> int:
    """The shallowest depth of the model's depth family below its own (1 when it declares no family)."""
    slots = [layer.depth for layer in shared_convs(model) if layer.depth is not None]
    if not slots:
        return 1
    ours: Dict[int, int] = {}
    for slot in slots:
        ours[slot.stage] = max(ours.get(slot.stage, 0), slot.block + 1)
    blocks = tuple(ours[s] for s in sorted(ours))
    for depth in range(1, MAX_DEPTH):
        theirs = slots[0].family.blocks(depth)
        if theirs is not None and theirs != blocks and all(t <= o for t, o in zip(theirs, blocks)):
            return depth
    return 1


@lru_cache(maxsize=None)
def _composed(overrides: Tuple[str, ...]) -> DictConfig:
    return compose(list(overrides))


def pair(model_overrides: Sequence[str], sharing_overrides: Sequence[str]) -> DictConfig:
    """compose(model_overrides + sharing_overrides), from the model's config and the sharing option's, each
    composed once: no sharing option reads the model, and models read sharing.k_rep by interpolation, which
    resolves against the swapped-in node. So 14 models x 5 probes compose 20 configs, not 70."""
    cfg = copy.deepcopy(_composed(tuple(model_overrides)))
    cfg.sharing = copy.deepcopy(_composed(tuple(sharing_overrides)).sharing)
    return cfg


def probe_model(model: str, overrides: Sequence[str] = (), datasets: Sequence[str] = DATASETS) -> Iterator[Probe]:
    """Every scheme probe of one model option (with `overrides` on top of its defaults)."""
    for dataset in datasets:
        base_overrides = [f"model={model}", f"dataset={dataset}", *overrides]
        try:
            base, _ = build_composed(pair(base_overrides, ["sharing=none"]))
            break
        except ConfigError:
            continue
    else:
        raise ConfigError(f"model={model} builds on none of the data sets {', '.join(datasets)}")
    for scheme, sharing in probes().items():
        if "sharing.plan=depth" in sharing:
            sharing = [*sharing, f"sharing.parent_depth={shallowest(base)}"]
        cfg = pair(base_overrides, sharing)
        found = Probe(model, scheme, [*base_overrides, *sharing], cfg)
        try:
            found.built, found.info = build_composed(cfg)
        except ConfigError as err:
            found.reason = str(err)
            yield found
            continue
        found.reason = no_op(cfg.sharing.name, found.built)
        found.groups = {n: len(b.layer_names) for n, b in found.built.sharing.banks.items() if n != UNSHARED}
        found.params_conv, found.unshared_conv = conv_params(found.built), unshared_conv_params(found.built)
        yield found


def capabilities() -> List[Probe]:
    """Every model option x every scheme probe, at the models' defaults."""
    return [p for model in model_options() for p in probe_model(model)]


def _groups(p: Probe) -> str:
    """hard / soft: each group and its layers; repeat: how many layers are children of how many parents."""
    if not p.groups:
        return ""
    if p.scheme.startswith("repeat, width"):
        return f"{sum(p.groups.values())} children, each of its own k = 1 parent"
    if p.scheme.startswith("repeat"):
        return f"{sum(p.groups.values()) - len(p.groups)} children of {len(p.groups)} parent layers"
    return ", ".join(f"{name} ({n})" for name, n in p.groups.items())


def markdown(rows: List[Probe]) -> str:
    """The table: a yes/no matrix, then one row per model x scheme with its groups, counts or reason."""
    schemes = list(probes())
    models = list(dict.fromkeys(p.model for p in rows))
    cell = {(p.model, p.scheme): p for p in rows}
    lines = ["# Sharing schemes x models", "",
             "Generated by `python scripts/capabilities.py` (also printed by `python -m repeatnet_repro.count "
             "--list`) from repeatnet_repro/analysis/capabilities.py: every model of conf/model/ is built at its "
             "defaults with every scheme; a scheme applies when it really shares weights, else the line says why "
             "it is refused. tests/test_scheme_matrix.py fails when this file differs from a regeneration, and "
             "trains every pair that applies for one step.", "",
             "Probes: " + "; ".join(f"**{s}** = `{' '.join(o)}`" for s, o in probes().items())
             + " (with `sharing.parent_depth` = the shallowest smaller depth of the model's family).", "",
             "| model | " + " | ".join(schemes) + " |", "|---" * (len(schemes) + 1) + "|"]
    for m in models:
        lines.append(f"| {m} | " + " | ".join("yes" if cell[(m, s)].applies else "**no**" for s in schemes) + " |")
    lines += ["", "| model | scheme | overrides | groups (layers) or children | \\|W_conv\\| (unshared) | "
              "refused because |", "|---|---|---|---|---|---|"]
    for p in rows:
        shown = " ".join(o for o in p.overrides if not o.startswith("model="))
        counts = f"{p.params_conv:,} ({p.unshared_conv:,})" if p.applies else ""
        reason = (p.reason or "").replace("|", "\\|")
        lines.append(f"| {p.model} | {p.scheme} | `{shown}` | {_groups(p)} | {counts} | {reason} |")
    return "\n".join(lines) + "\n"
