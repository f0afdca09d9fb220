"""Matched budgets: the width at which a model's |W|, |W_conv| or MACs equal those of a reference config.

`match.<measure>="<overrides>"` (measure: params, params_conv, macs) names the reference: the run's own
overrides with these on top, e.g. "sharing=none" is the same model unshared at the configured width. The
search varies one integer knob, the model's width (the builder keyword marked `Width()`, or `match.knob`),
counting on the meta device. Every measure grows with the width, so the search is monotone: doubling until
the target is passed, then bisection; the closer of the two neighbours wins. Widths are integers, so a match
is approximate: the record states the achieved ratio, and one outside `match.tolerance` is an error naming
the closest width. A list-valued width (convnet's per-stage widths) is set by its first entry, the others
scaled in proportion.
"""
from __future__ import annotations

import copy
import shlex
from typing import Any, Callable, Dict, List, Optional, Tuple

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..config import compose
from ..models import MODELS
from ..registry import ConfigError, Range, Width
from .counting import count_composed, reference_overrides

MEASURES = {"params": "|W|", "params_conv": "|W_conv|", "macs": "MACs"}
#: the widest knob value tried when the model declares no upper bound: a target beyond it is out of reach
LARGEST = 1 << 14


def match_target(match: Any) -> Optional[Tuple[str, List[str]]]:
    """(measure, reference overrides) of the `match` node, or None when it names no target."""
    chosen = [m for m in MEASURES if match.get(m)]
    if len(chosen) > 1:
        raise ConfigError(f"{' and '.join('match.' + m for m in chosen)} are set together: a budget matches "
                          f"one measure at a time, set one of match.{', match.'.join(MEASURES)}")
    return (chosen[0], shlex.split(match[chosen[0]])) if chosen else None


def width_knob(cfg: DictConfig) -> str:
    """The dotted key the search varies: `match.knob`, else the model's keyword marked Width()."""
    model = cfg.model.name
    key = cfg.match.knob
    if key is None:
        hints = MODELS.hints(model)
        marked = [p for p in MODELS.params(model, skip=1)
                  if any(isinstance(m, Width) for m in getattr(hints.get(p), "__metadata__", ()))]
        if not marked:
            raise ConfigError(f"model={model} declares no width keyword (Width()); name the key to vary with "
                              f"match.knob=model.<key> (keys of model={model}: {', '.join(MODELS.params(model, 1))})")
        key = f"model.{marked[0]}"
    name = key.split(".", 1)[1]
    if name not in cfg.model:
        raise ConfigError(f"match.knob={key}: model={model} has no key {name}; its keys: "
                          f"{', '.join(MODELS.params(model, 1))}")
    raw = OmegaConf.to_container(cfg.model, resolve=False)[name]
    if OmegaConf.is_interpolation(cfg.model, name):
        raise ConfigError(f"match.knob={key} follows another key ({key}={raw}); vary a width of its own "
                          "(under sharing=repeat: the k_rep = 1 base width)")
    widths = raw if isinstance(raw, list) else [raw]
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) for w in widths):
        raise ConfigError(f"match.knob={key}: {key}={raw!r} is no integer width (nor a list of them)")
    return key


def with_width(cfg: DictConfig, key: str, value: int) -> DictConfig:
    """A copy of cfg with the knob at `value` (a list knob: first entry `value`, the others in proportion)."""
    out = copy.deepcopy(cfg)
    current = OmegaConf.select(cfg, key)
    new = [max(1, round(value * w / current[0])) for w in current] if OmegaConf.is_list(current) else value
    OmegaConf.update(out, key, new, merge=False)
    return out


def _bounds(cfg: DictConfig, key: str) -> Tuple[int, int]:
    """The knob's declared range (Annotated Range on the builder keyword), within [1, LARGEST]."""
    declared = MODELS.constraints(cfg.model.name, skip=1).get(key.split(".", 1)[1])
    if not isinstance(declared, Range):
        return 1, LARGEST
    low = max(1, int(declared.ge if declared.ge is not None else (declared.gt or 0) + 1))
    return low, int(declared.le) if declared.le is not None else LARGEST


def closest(count: Callable[[int], int], target: float, start: int, low: int, high: int) -> int:
    """The value in [low, high] whose count is closest to `target`, for a count that never decreases with
    the value: double from `start` until the target is passed, bisect, compare the two neighbours."""
    hi, below = min(max(start, low), high), low - 1  # below: the largest value known to count under target
    while count(hi) < target and hi < high:
        below, hi = hi, min(2 * hi, high)
    if count(hi) >= target:
        while hi - below > 1:
            mid = (below + hi) // 2
            below, hi = (mid, hi) if count(mid) < target else (below, mid)
    return min((v for v in (hi - 1, hi) if v >= low), key=lambda v: abs(count(v) - target))


def match_width(cfg: DictConfig, overrides: Optional[List[str]] = None) -> Dict[str, Any]:
    """Set cfg's width knob (in place) to the value that matches `match`'s target; returns what the run
    record keeps (measure, reference, target, knob, value, achieved, ratio, tolerance), {} without a target.
    `overrides`: the run's own command-line overrides, which the reference's are applied on top of (None:
    those of the running Hydra app, e.g. a training run's; none outside one)."""
    if overrides is None:
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    found = match_target(cfg.match)
    if found is None:
        return {}
    measure, reference = found
    key = width_knob(cfg)
    try:
        target = count_composed(compose(reference_overrides(overrides, reference)))[measure]
    except (ConfigError, ValueError) as err:
        raise ConfigError(f"match.{measure}: the reference ({' '.join(reference)}): {err}") from None
    counted: Dict[int, int] = {}

    def count(value: int) -> int:
        if value not in counted:
            try:
                counted[value] = count_composed(with_width(cfg, key, value))[measure]
            except (ConfigError, ValueError) as err:
                raise ConfigError(f"match.{measure}: at {key}={value}: {err}") from None
        return counted[value]

    current = OmegaConf.select(cfg, key)
    start = current[0] if OmegaConf.is_list(current) else current
    value = closest(count, target, start, *_bounds(cfg, key))
    achieved, tolerance = count(value), cfg.match.tolerance
    matched = with_width(cfg, key, value)
    shown = OmegaConf.to_object(OmegaConf.select(matched, key)) if OmegaConf.is_list(current) else value
    if abs(achieved / target - 1) > tolerance:
        raise ConfigError(f"match.{measure}: no {key} gives the {MEASURES[measure]} of the reference "
                          f"({' '.join(reference)}: {target:,}) within match.tolerance={tolerance:g}; the closest "
                          f"is {key}={shown} with {achieved:,} ({achieved / target - 1:+.1%}): raise "
                          "match.tolerance or name another width with match.knob")
    OmegaConf.update(cfg, key, OmegaConf.select(matched, key), merge=False)
    return {"measure": measure, "reference": " ".join(reference), "target": target, "knob": key, "value": shown,
            "achieved": achieved, "ratio": achieved / target, "tolerance": tolerance}
