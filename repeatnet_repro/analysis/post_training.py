"""Analyses of a trained model (config group `analysis`, registry `ANALYSES`).

They run after the last epoch of a training run, or later on its checkpoint with
`python -m repeatnet_repro.train mode=eval checkpoint=<run>/checkpoints/last.pt analysis=[fold,...]`, and
write into that run's record: the full result to artifacts/analysis/<name>.(json|npz), a short form to
summary.json under `analysis.<name>`.

A builder takes the model and the analysis' options, checks that the analysis applies to this model (so a
wrong choice fails before training, not after it) and returns the analysis as a callable
`(evaluate, out_dir, epoch) -> short result`, where `evaluate(model)` gives the model's test metrics and
`out_dir` is None on processes that must not write (data-parallel ranks other than 0). An analysis that
evaluates the model at several points names their option in POINTS; a budget's `max_analysis_points` keeps
that many of them, spread from the first to the last (smoke runs), and each point is logged as it is done.
"""
from __future__ import annotations

import copy
import io
import logging
from pathlib import Path
from typing import Annotated, Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils import prune

from ..engine.atomic import atomic_write, write_json
from ..registry import ConfigError, Range, Registry
from ..sharing import SharedConv2d
from ..sharing.base import shared_convs
from ..sharing.folding import fold as fold_model
from ..sharing.soft import template_banks
from .counting import conv_params

ANALYSES = Registry("analysis", nested=True)
#: analysis -> its option listing the points it evaluates the model at
POINTS = {"fold": "thresholds", "prune_blending": "fractions"}

log = logging.getLogger(__name__)

Evaluate = Callable[[nn.Module], Dict[str, float]]
Analysis = Callable[[Evaluate, Optional[Path], int], Dict[str, Any]]


def _save_json(out_dir: Optional[Path], name: str, obj: Any) -> None:
    if out_dir is not None:
        write_json(out_dir / name, obj)


def _error(metrics: Dict[str, float]) -> float:
    return 100.0 - metrics["acc"]


def _fractions(values: Sequence[float], key: str) -> List[float]:
    values = [float(v) for v in values]
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"analysis.{key}={values}: give a non-empty list of values in [0, 1]")
    return values


@ANALYSES.register("fold")
def fold(model: nn.Module, thresholds: Annotated[List[float], Range(gt=0, le=1)] = [0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5]) -> Analysis:
    """Soft sharing Sec. 4.3 / Fig. 4, 6: tie layers whose LSM similarity reaches each threshold, then test.

    Each threshold folds a fresh copy of the trained model; the change in test error is in points.
    """
    if not template_banks(model):
        raise ConfigError("analysis=fold needs a soft-shared model (sharing=soft); this model has no "
                          "template banks")
    for t in _fractions(thresholds, "fold.thresholds"):
        if t == 0.0:
            raise ConfigError("analysis.fold.thresholds: 0 would tie every layer; give values in (0, 1]")

    def run(evaluate: Evaluate, out_dir: Optional[Path], epoch: int) -> Dict[str, Any]:
        base = evaluate(model)
        baseline = {"test_acc": base["acc"], "test_error": _error(base)}
        lsm = {g: {"layers": list(b.layer_names), "lsm": b.similarity().detach().cpu().tolist()}
               for g, b in template_banks(model).items()}
        points = []
        for threshold in thresholds:
            folded = copy.deepcopy(model)
            groups = fold_model(folded, threshold)["groups"]
            metrics = evaluate(folded)
            log.info("fold: threshold %g -> %d distinct layers, test error %.2f (%+.2f)", threshold,
                     sum(r["distinct_layers"] for r in groups.values()), _error(metrics),
                     _error(metrics) - baseline["test_error"])
            points.append({
                "threshold": threshold, "layers": sum(len(r["layers"]) for r in groups.values()),
                "distinct_layers": sum(r["distinct_layers"] for r in groups.values()), "test_acc": metrics["acc"],
                "test_error": _error(metrics), "delta_error": _error(metrics) - baseline["test_error"],
                "groups": {g: {k: r[k] for k in ("layers", "tied_to", "distinct_layers")} for g, r in groups.items()},
            })
        _save_json(out_dir, "fold.json", {"epoch": epoch, "baseline": baseline, "points": points, "lsm": lsm})
        return {"baseline": baseline, "points": [{k: v for k, v in p.items() if k != "groups"} for p in points]}

    return run


def blending_layers(model: nn.Module, analysis: str) -> List[SharedConv2d]:
    """ShardNet's blending ("linear") layers: the 1x1 convs outside every sharing group. The 1x1 convs of a
    shared bottleneck (SL-ResNet-50) belong to the shared block, not to the blending layers."""
    layers = [layer for layer in shared_convs(model) if layer.kernel_size == 1 and layer.group is None]
    if not layers:
        raise ConfigError(f"analysis={analysis}: the model has no unshared 1x1 convolutions (ShardNet's blending "
                          "layers); use an SL model (e.g. model=vggnet model.blend=true)")
    return layers


@ANALYSES.register("prune_blending")
def prune_blending(model: nn.Module, fractions: Annotated[List[float], Range(ge=0, le=1)] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
                   ) -> Analysis:
    """ShardNet Sec. 5.2 / Fig. 5: zero the given fraction of smallest-magnitude blending-layer ("linear")
    weights, ranked over all of them together (Han et al.'s magnitude pruning), and test without retraining.
    Each point records |W_conv| without its pruned weights (`params_conv`): C = |W_conv|(reference) / that."""
    fractions = _fractions(fractions, "prune_blending.fractions")
    layers = blending_layers(model, "prune_blending")
    params = [layer.bank.own_parameter(layer.slot) for layer in layers]
    for layer, param in zip(layers, params):
        if param is None:
            raise ConfigError(f"analysis=prune_blending: 1x1 layer {layer.layer_name} has a weight computed "
                              f"by sharing={model.sharing.scheme}, not a parameter of its own to prune; use "
                              "sharing=none or hard")

    @torch.no_grad()
    def run(evaluate: Evaluate, out_dir: Optional[Path], epoch: int) -> Dict[str, Any]:
        total = conv_params(model)
        original = [p.detach().clone() for p in params]
        flat = torch.cat([p.flatten() for p in original])
        points = []
        try:
            for fraction in fractions:
                mask = prune.L1Unstructured(amount=fraction).compute_mask(flat, torch.ones_like(flat))
                offset = 0
                for p, w in zip(params, original):
                    p.copy_(w * mask[offset:offset + w.numel()].view_as(w))
                    offset += w.numel()
                metrics = evaluate(model)
                pruned = int((mask == 0).sum())
                log.info("prune_blending: %.0f%% of %d blending weights pruned -> test acc %.2f", 100 * fraction,
                         flat.numel(), metrics["acc"])
                points.append({"fraction": fraction, "pruned": pruned, "params_conv": total - pruned,
                               **{f"test_{k}": metrics[k] for k in ("acc", "top5") if k in metrics}})
        finally:
            for p, w in zip(params, original):
                p.copy_(w)
        short = {"epoch": epoch, "weights": flat.numel(), "points": points}
        _save_json(out_dir, "prune_blending.json", {**short, "layers": [layer.layer_name for layer in layers]})
        return short

    return run


@ANALYSES.register("blending_weights")
def blending_weights(model: nn.Module) -> Analysis:
    """ShardNet Fig. 4, 7, 8: the (out, in) matrix of every blending layer (unshared 1x1 conv), as npz."""
    layers = blending_layers(model, "blending_weights")

    @torch.no_grad()
    def run(evaluate: Evaluate, out_dir: Optional[Path], epoch: int) -> Dict[str, Any]:
        arrays = {layer.layer_name: layer.weight[:, :, 0, 0].float().cpu().numpy() for layer in layers}
        if out_dir is not None:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            atomic_write(out_dir / "blending_weights.npz", lambda f: f.write(buffer.getvalue()), mode="wb")
        return {"epoch": epoch, "file": "artifacts/analysis/blending_weights.npz", "layers": list(arrays)}

    return run


@ANALYSES.register("lsm")
def lsm(model: nn.Module) -> Analysis:
    """Soft sharing Fig. 4, 7: every group's layer similarity matrix (and coefficients) of the trained model."""
    if not template_banks(model):
        raise ConfigError("analysis=lsm needs a soft-shared model (sharing=soft); this model has no template banks")

    def run(evaluate: Evaluate, out_dir: Optional[Path], epoch: int) -> Dict[str, Any]:
        _save_json(out_dir, "lsm.json", {"epoch": epoch, "banks": model.sharing.snapshot()})
        return {"epoch": epoch, "file": "artifacts/analysis/lsm.json", "groups": list(template_banks(model))}

    return run


def spread(values: Sequence[Any], n: Optional[int]) -> List[Any]:
    """`n` of `values` evenly spaced from the first to the last (all of them when n is None or >= len)."""
    values = list(values)
    if n is None or n >= len(values):
        return values
    return [values[round(i * (len(values) - 1) / (n - 1))] for i in range(n)]


def build_analyses(cfg: Any, model: nn.Module, max_points: Optional[int] = None) -> Dict[str, Analysis]:
    """The analyses selected under `analysis` (each node carries its `name`), checked against `model`;
    each evaluates at most `max_points` of its POINTS."""
    built = {}
    for key, node in (cfg or {}).items():
        node = dict(node) if isinstance(node, dict) else OmegaConf.to_container(node, resolve=True)
        if node["name"] in POINTS:
            option = POINTS[node["name"]]
            node[option] = spread(node.get(option, ANALYSES.params(node["name"], skip=1)[option].default), max_points)
        built[key] = ANALYSES.build(node, model, skip=1)
    return built
