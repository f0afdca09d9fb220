"""Folding a soft-shared model into an explicitly recurrent one (soft-sharing paper, Sec. 4.3, App. A).

A layer whose coefficient vector is (almost) parallel to an earlier layer's computes the same operation
up to a scale; tying it to that layer turns the pair into one layer applied twice (a loop).
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import nn

from ..registry import ConfigError
from .soft import template_banks

#: similarities this close to the threshold count as reaching it (cosines of equal vectors are not exactly 1)
TOLERANCE = 1e-6


@torch.no_grad()
def fold(model: nn.Module, threshold: float = 0.8) -> Dict[str, Any]:
    """Tie every layer whose similarity to an earlier one is >= `threshold`, in place; report what is left.

    Layers are visited in order; each joins the most similar earlier *distinct* layer it reaches the
    threshold with, else stays distinct. A tied layer's coefficients become alpha_j := c alpha_r, the
    projection onto its representative r: the same weight direction (hard sharing up to a scale) with
    the scale c = <alpha_j, alpha_r> / |alpha_r|^2 keeping the sign and size its own BatchNorm was
    trained for. At similarity 1 this changes nothing. Each layer keeps its BatchNorm and bias.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"fold threshold={threshold}: similarities lie in [0, 1]; give a value in (0, 1]")
    banks = template_banks(model)
    if not banks:
        raise ConfigError("folding needs a soft-shared model (sharing=soft); this model has no template banks")
    report: Dict[str, Any] = {"threshold": threshold, "groups": {}}
    for name, bank in banks.items():
        sim = bank.similarity()
        alpha = bank.coefficients
        representative: List[int] = []
        for j in range(alpha.shape[0]):
            roots = [r for r in range(j) if representative[r] == r and sim[j, r] >= threshold - TOLERANCE]
            r = max(roots, key=lambda i: (sim[j, i].item(), -i)) if roots else j
            representative.append(r)
            if r != j:
                scale = alpha[j].dot(alpha[r]) / alpha[r].dot(alpha[r])
                alpha[j] = scale * alpha[r]
        distinct = sorted(set(representative))
        report["groups"][name] = {
            "layers": list(bank.layer_names), "tied_to": representative,
            "distinct_layers": len(distinct), "folded_layers": len(representative) - len(distinct),
            "lsm_before": sim.cpu().tolist(),
        }
    report["distinct_layers"] = sum(g["distinct_layers"] for g in report["groups"].values())
    return report
