"""Soft sharing (Savarese & Maire): layer i of a group convolves with W_i = sum_j alpha_ij T_j.

Each group holds k templates T_j and an L x k coefficient matrix A (row i = alpha_i of layer i).
The layer similarity matrix S_ij = |<a_i, a_j>| / (|a_i| |a_j|) shows which layers compute the same
operation; the recurrence regulariser adds -lambda_R * sum_ij S_ij to the loss. Coefficients are
exempt from weight decay (paper, Sec. 4.1).
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ConfigError, OneOf, Range
from .base import SCHEMES, SharedWeights, WeightBank, require_layers, split_groups, with_unshared
from .layers import SharedLayer

COEFF_INITS = ("orthogonal", "identity", "sparse", "normal", "uniform")


def init_coefficients(layers: int, templates: int, how: str) -> torch.Tensor:
    """The L x k coefficient matrix A at initialisation (soft-sharing paper, App. B).

    orthogonal: orthonormal rows or columns (A^T A = I when L >= k), so the LSM starts as the identity;
    identity: A = I (needs k = L); normal / uniform / sparse, the schemes App. B compares without giving their
    scale (**ours**: scaled so E|alpha_i|^2 = 1, as an orthonormal row has): N(0, 1/k), U(-sqrt(3/k), sqrt(3/k)),
    or N(0, 1/m) on m = ceil(k/2) random entries per row with the rest zero, so no layer starts with an all-zero
    weight. The authors' code implements the orthogonal one only.
    """
    if how == "orthogonal":
        return nn.init.orthogonal_(torch.empty(layers, templates))
    if how == "identity":
        return torch.eye(layers)
    if how == "normal":
        return torch.randn(layers, templates) / math.sqrt(templates)
    if how == "uniform":
        return (2 * torch.rand(layers, templates) - 1) * math.sqrt(3 / templates)
    if how == "sparse":
        kept = math.ceil(templates / 2)
        order = torch.rand(layers, templates).argsort(dim=1)
        mask = (order < kept).float()
        return torch.randn(layers, templates) * mask / math.sqrt(kept)
    raise ConfigError(f"sharing.coeff_init={how}: valid initialisations are {', '.join(COEFF_INITS)}")


def layer_similarity(coefficients: torch.Tensor) -> torch.Tensor:
    """S_ij = |cos(alpha_i, alpha_j)|: 1 on the diagonal, symmetric, blind to rescaling a layer."""
    unit = F.normalize(coefficients, dim=1)
    return (unit @ unit.T).abs()


class TemplateBank(WeightBank):
    """k templates shared by a group's L layers, plus one coefficient vector per layer.

    Templates are stored flattened, (k, out·in·kh·kw): a layer's weight is then one vector-matrix
    product, and `model.to(memory_format=channels_last)` (which only takes rank-4 tensors) leaves them be.
    """

    scheme = "soft"

    def __init__(self, layers: Sequence[SharedLayer], templates: int, coeff_init: str, reg_lambda: float):
        super().__init__()
        self.shape = tuple(layers[0].weight_shape)
        bank = torch.empty(templates, math.prod(self.shape))
        for t in bank:
            layers[0].init_weight_(t.view(self.shape))
        self.templates = nn.Parameter(bank)
        self.coefficients = nn.Parameter(init_coefficients(len(layers), templates, coeff_init))
        self.reg_lambda = reg_lambda
        self._weights: Optional[List[torch.Tensor]] = None  # this forward's layer weights (per_forward)
        self.attach(layers)

    def per_forward(self, active: bool) -> None:
        self._weights = [] if active else None

    def weight(self, slot: int) -> torch.Tensor:
        """Inside a model's forward the group's first layer computes every layer's weight in one product A @ T
        (one matrix product forward and two backward instead of L vector products and L outer products: the
        soft-sharing overhead on WRN-28-10 halves); outside, or compiled, layer `slot`'s alone."""
        if self._weights is None or torch.compiler.is_compiling():
            return (self.coefficients[slot] @ self.templates).view(self.shape)
        if not self._weights:
            self._weights.extend((self.coefficients @ self.templates).unbind(0))
        return self._weights[slot].view(self.shape)

    def template(self, j: int) -> torch.Tensor:
        """Template j in the layers' weight shape."""
        return self.templates[j].view(self.shape)

    def similarity(self) -> torch.Tensor:
        return layer_similarity(self.coefficients)

    def regularization(self) -> Optional[torch.Tensor]:
        """-lambda_R * sum_ij S_ij (to be added to the loss); None when lambda_R = 0."""
        return -self.reg_lambda * self.similarity().sum() if self.reg_lambda else None

    def no_decay_parameters(self) -> List[nn.Parameter]:
        return [self.coefficients]

    def snapshot(self) -> Dict[str, Any]:
        with torch.no_grad():
            return {"layers": list(self.layer_names), "lsm": self.similarity().cpu().tolist(),
                    "coefficients": self.coefficients.cpu().tolist()}

    def summary(self) -> Dict[str, Any]:
        return {**super().summary(), "templates": self.templates.shape[0]}


def template_banks(model: nn.Module) -> Dict[str, TemplateBank]:
    """The soft-sharing banks of a built model, by group name."""
    sharing = getattr(model, "sharing", None)
    return {n: b for n, b in sharing.banks.items() if isinstance(b, TemplateBank)} if sharing is not None else {}


@torch.no_grad()
def lsm(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The layer similarity matrix of every soft-shared group (rows/columns in the group's layer order)."""
    return {name: bank.similarity() for name, bank in template_banks(model).items()}


def templates_per_group(templates: Any, groups: Dict[str, List[SharedLayer]]) -> Dict[str, int]:
    """`sharing.templates`: null (k = the group's size: no reduction), one int, or {group: int}."""
    if templates is None:
        counts = {g: len(m) for g, m in groups.items()}
    elif isinstance(templates, int) and not isinstance(templates, bool):
        counts = {g: templates for g in groups}
    elif isinstance(templates, dict):
        unknown = sorted(set(templates) - set(groups))
        missing = [g for g in groups if g not in templates]
        if unknown or missing:
            raise ConfigError(f"sharing.templates={templates}: give one count for each of the model's groups "
                              f"{list(groups)} (unknown: {unknown}, missing: {missing})")
        counts = dict(templates)
    else:
        raise ConfigError(f"sharing.templates={templates}: give null (one template per layer), an int, "
                          f"or one int per group {list(groups)}")
    for g, k in counts.items():
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"sharing.templates: group '{g}' gets {k} templates; at least 1 is needed")
    return counts


@SCHEMES.register("soft")
def soft(layers: List[SharedLayer], templates: Any = None, coeff_init: Annotated[str, OneOf(COEFF_INITS)] = "orthogonal",
         reg_lambda: Annotated[float, Range(ge=0)] = 0.0, lsm_epochs: Annotated[List[int], Range(ge=1)] = [],
         lsm_last: bool = True, allow_singletons: bool = False) -> SharedWeights:
    """templates: k per group (null = group size, int, or {group: k}); coeff_init: orthogonal |
    identity | sparse | normal | uniform; reg_lambda: lambda_R of the recurrence regulariser; lsm_epochs: epochs
    after which each group's LSM is saved to artifacts/lsm/ (also after the last one if lsm_last);
    allow_singletons: run a model whose groups all hold one layer (which shares nothing) instead of failing."""
    require_layers(layers, "soft", grouped=True)
    if coeff_init not in COEFF_INITS:
        raise ConfigError(f"sharing.coeff_init={coeff_init}: valid initialisations are {', '.join(COEFF_INITS)}")
    if reg_lambda < 0:
        raise ConfigError(f"sharing.reg_lambda={reg_lambda}: must be >= 0 (it rewards similar layers)")
    if any(not isinstance(e, int) or e < 1 for e in lsm_epochs):
        raise ConfigError(f"sharing.lsm_epochs={list(lsm_epochs)}: give epoch numbers >= 1")
    unshared, groups = split_groups(layers, "soft", allow_singletons)
    counts = templates_per_group(templates, groups)
    if coeff_init == "identity":
        odd = {g: (counts[g], len(m)) for g, m in groups.items() if counts[g] != len(m)}
        if odd:
            raise ConfigError(f"sharing.coeff_init=identity needs as many templates as layers per group; "
                              f"(templates, layers) = {odd}: set sharing.templates=null or another coeff_init")
    banks = {g: TemplateBank(m, counts[g], coeff_init, reg_lambda) for g, m in groups.items()}
    return SharedWeights("soft", with_unshared(unshared, banks), snapshot_dir="lsm",
                         snapshot_epochs=lsm_epochs, snapshot_last=lsm_last)
