"""What a built model's parameters start as, read from their values: the init family of each kind of layer.

docs/protocols.md's `init` field comes from here, so it says what the builders do, not what someone wrote they
do: change a builder's init and the document is stale. Each parameter is sorted into a kind (spatial convs, 1x1
convs feeding a BatchNorm, "linear" 1x1 convs with no BN after them, FC layers, BN scales and shifts, and the
sharing schemes' own parameters: soft templates and alpha, repeat parents and beta). Constant tensors are named
by their value; the others are tested against each family of FAMILIES: the empirical spread against the
family's std at the tensor's fan_in / fan_out, uniform draws against the family's bound (all inside, the largest
near it), normal draws against the tails a uniform cannot have; of the families that pass, the likeliest wins,
and families the values cannot tell apart are named together ('He-normal fan_in = fan_out' on square layers).
Tensors too small to judge alone are pooled per kind, and drawn again with other seeds while still undecided.
Whether a 1x1 conv feeds a BN is read from one forward pass, on the meta device where the model builds there.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

SQRT3 = math.sqrt(3.0)
#: values read of each tensor (evenly strided): enough to tell families whose stds differ by 10 % apart
MAX_VALUES = 4096
#: tensors smaller than this are judged together; an undecided kind with fewer such values than MIN_POOLED is
#: drawn again (other seeds; models up to REDRAW_PARAMS without e2cnn layers, whose bases cost seconds a build)
#: until it has them: a few dozen values cannot tell uniform from normal
SMALL, MIN_POOLED, REDRAW_PARAMS, MAX_DRAWS = 256, 300, 20_000_000, 8
#: families whose stds differ by less than this (in log) on every tensor are not told apart, but named together
RESOLUTION = 0.1
#: kinds in the order they are rendered, with their labels
KINDS = {"conv": "kxk conv", "conv1x1_bn": "1x1 conv (BN after)", "linear1x1": "linear 1x1 conv (no BN after)",
         "r2conv": "R2Conv basis coefficients", "conv_bias": "conv bias", "fc": "FC", "fc_bias": "FC bias",
         "bn_weight": "BN scale", "bn_bias": "BN shift", "templates": "soft templates", "alpha": "soft alpha",
         "parents": "repeat parents", "beta": "repeat beta (on (1, tiles))", "beta_rest": "repeat remainder beta",
         "other": "other"}


@dataclass
class Sample:
    """One tensor's values, the fans its family's std is computed from, and where it lives (for the report)."""

    name: str
    values: torch.Tensor  # float64, flat
    fan_in: int = 1
    fan_out: int = 1
    basis_std: Optional[torch.Tensor] = None  # e2cnn's generalised He std per coefficient, for R2Conv weights
    redraw: bool = False  # from another draw of the same model: adds values, is not counted as a tensor


@dataclass(frozen=True)
class Family:
    name: str
    shape: str  # normal | uniform
    std: Callable[[Sample], object]  # float or a per-value tensor
    mean: float = 0.0
    applies: Callable[[Sample], bool] = lambda s: True


FAMILIES: Tuple[Family, ...] = (
    Family("He-normal fan_in", "normal", lambda s: math.sqrt(2 / s.fan_in)),
    Family("He-normal fan_out", "normal", lambda s: math.sqrt(2 / s.fan_out)),
    Family("He-uniform fan_in", "uniform", lambda s: math.sqrt(2 / s.fan_in)),
    Family("Glorot-uniform", "uniform", lambda s: math.sqrt(2 / (s.fan_in + s.fan_out))),
    Family("Glorot-normal", "normal", lambda s: math.sqrt(2 / (s.fan_in + s.fan_out))),
    # kaiming_uniform_(a=sqrt(5)): bound 1/sqrt(fan_in), as nn.Conv2d / nn.Linear weights and biases
    Family("torch default U(±1/√fan_in)", "uniform", lambda s: 1 / math.sqrt(3 * s.fan_in)),
    Family("LeCun-normal N(0, 1/fan_in)", "normal", lambda s: 1 / math.sqrt(s.fan_in)),
    Family("U(0, 1)", "uniform", lambda s: 1 / math.sqrt(12), mean=0.5),
    Family("N(0, 1)", "normal", lambda s: 1.0),
    Family("e2cnn generalised He", "normal", lambda s: s.basis_std, applies=lambda s: s.basis_std is not None),
)

FAMILY = {f.name: f for f in FAMILIES}
#: soft sharing's uniform alpha (ours, E|alpha_i|^2 = 1); no layer is drawn so, and on square layers it would be
#: Glorot-uniform's twin in every label
ALPHA_UNIFORM = Family("U(±√(3/k))", "uniform", lambda s: 1 / math.sqrt(s.fan_in))


def _fmt(x: float) -> str:
    return f"{x:g}"


def _z(family: Family, sample: Sample) -> torch.Tensor:
    std = family.std(sample)
    return (sample.values - family.mean) / (std if isinstance(std, torch.Tensor) else float(std))


def _alike(f: Family, g: Family, samples: Sequence[Sample]) -> bool:
    """Same shape, and on every sample stds within RESOLUTION of each other."""
    if f.shape != g.shape or f.mean != g.mean:
        return False
    for s in samples:
        ratio = torch.as_tensor(f.std(s), dtype=torch.float64) / torch.as_tensor(g.std(s), dtype=torch.float64)
        if float(ratio.log().abs().max()) > RESOLUTION:
            return False
    return True


def _log_likelihood(family: Family, samples: Sequence[Sample]) -> Optional[float]:
    """The samples' log-likelihood under the family, or None when they cannot come from it."""
    if not all(family.applies(s) for s in samples):
        return None
    z = torch.cat([_z(family, s) for s in samples])
    n = z.numel()
    if n < 8:
        return None
    spread = float(z.pow(2).mean().sqrt())
    if abs(math.log(spread)) > max(0.08, 4 / math.sqrt(2 * n)) or abs(float(z.mean())) > 0.05 + 5 / math.sqrt(n):
        return None
    top = float(z.abs().max()) / SQRT3
    scale = torch.cat([torch.as_tensor(family.std(s), dtype=torch.float64).expand_as(s.values) for s in samples])
    if family.shape == "uniform":  # all inside the bound, the largest near it
        if top > 1 + 1e-4 or top < 1 - 8 / n:
            return None
        return -float(torch.log(2 * SQRT3 * scale).sum())
    if n >= 100 and top < 1.05:  # n normal draws all within a uniform's bound: no
        return None
    return float((-0.5 * z.pow(2) - torch.log(scale) - 0.5 * math.log(2 * math.pi)).sum())


def _alpha_label(a: torch.Tensor) -> Optional[str]:
    """A soft bank's L x k coefficients: identity, orthogonal, sparse, normal or uniform (App. B's options), else
    None."""
    rows, cols = a.shape
    if rows == cols and torch.equal(a, torch.eye(rows, dtype=a.dtype)):
        return "identity"
    gram = a.T @ a if rows >= cols else a @ a.T
    if torch.allclose(gram, torch.eye(gram.shape[0], dtype=a.dtype), atol=1e-4):
        return "orthogonal"
    normal = FAMILY["LeCun-normal N(0, 1/fan_in)"]
    kept = (a != 0).sum(1)  # exact zeros: no continuous draw makes them
    if int(kept.min()) == int(kept.max()) < cols:
        m = int(kept[0])
        nonzero = a[a != 0]
        if nonzero.numel() < 8 or _log_likelihood(normal, [Sample("alpha", nonzero, fan_in=m)]) is not None:
            return "sparse: ⌈k/2⌉ of k per row, N(0, 1/⌈k/2⌉)" if m == math.ceil(cols / 2) else \
                f"sparse: {m} of {cols} per row, N(0, 1/{m})"
    fits = {label: _log_likelihood(f, [Sample("alpha", a.flatten(), fan_in=cols)])
            for label, f in (("N(0, 1/k)", normal), ("U(±√(3/k))", ALPHA_UNIFORM))}
    fits = {label: ll for label, ll in fits.items() if ll is not None}
    return max(fits, key=fits.get) if fits else None


def classify(samples: Sequence[Sample]) -> List[Tuple[str, List[str]]]:
    """The families the samples come from, each with the names of its samples, the commonest first.

    Constant tensors are named by their value. Tensors of 256 values or more are tested one by one, the
    smaller ones together; a set cover then names as few families as explain them all (ties: the likeliest).
    """
    out: Dict[str, List[str]] = {}
    units: List[List[Sample]] = []
    small: List[Sample] = []
    for s in samples:
        if s.values.numel() and bool((s.values == s.values[0]).all()):
            if not s.redraw:
                out.setdefault(_fmt(float(s.values[0])), []).append(s.name)
        elif s.values.numel() >= SMALL:
            units.append([s])
        else:
            small.append(s)
    if small:
        units.append(small)
    by_name = {f.name: f for f in FAMILIES}
    fits = [{f.name: ll for f in FAMILIES if (ll := _log_likelihood(f, unit)) is not None} for unit in units]
    left = set(range(len(units)))
    while left:
        counts: Dict[str, Tuple[int, float]] = {}
        for i in left:
            for name, ll in fits[i].items():
                n, total = counts.get(name, (0, 0.0))
                counts[name] = (n + 1, total + ll)
        if not counts:
            for i in sorted(left):
                v = torch.cat([s.values for s in units[i]])
                label = f"unrecognised (mean {float(v.mean()):.3g}, std {float(v.std()):.3g})"
                out.setdefault(label, []).extend(s.name for s in units[i] if not s.redraw)
            break
        best = max(counts, key=lambda f: (counts[f][0], counts[f][1]))
        covered = {i for i in left if best in fits[i]}
        # families the covered samples cannot tell from the best (He fan_in and fan_out where fan_in = fan_out; He
        # fan_in and Glorot where fan_out << fan_in: stds within RESOLUTION) are named beside it
        same = [f for f in counts if f != best and all(f in fits[i] for i in covered)
                and _alike(by_name[f], by_name[best], [s for i in covered for s in units[i]])]
        label = _join(sorted([best, *same], key=list(by_name).index))
        out.setdefault(label, []).extend(s.name for i in sorted(covered) for s in units[i] if not s.redraw)
        left -= covered
    return sorted(out.items(), key=lambda kv: -len(kv[1]))


def _join(names: List[str]) -> str:
    """Families the values cannot tell apart: 'He-normal fan_in = fan_out' where they share a first word, else
    'A = B'."""
    heads = {n.split(" ", 1)[0] for n in names}
    if len(names) > 1 and len(heads) == 1 and all(" " in n for n in names):
        return heads.pop() + " " + " = ".join(n.split(" ", 1)[1] for n in names)
    return " = ".join(names)


def _short(name: str) -> str:
    """A parameter's place without block indices: 'body.block2_3.bn2' -> 'bn2', 'shortcut.0' -> 'shortcut'."""
    parts = [p for p in name.split(".") if not p.isdigit()]
    return re.sub(r"\d+_\d+$", "", parts[-1]) if parts else name


def render(families: List[Tuple[str, List[str]]]) -> str:
    """'label' for one family; else the commonest, then 'label on k of n (names)' for each other."""
    total = sum(len(names) for _, names in families)
    head, rest = families[0][0], families[1:]
    parts = [head]
    for label, names in rest:
        where = sorted({_short(n) for n in names})
        shown = ", ".join(where[:3]) + (", ..." if len(where) > 3 else "")
        parts.append(f"{label} on {len(names)} of {total} ({shown})")
    return "; ".join(parts) if len(parts) == 1 else parts[0] + ", but " + ", ".join(parts[1:])


def _bn_fed(model: nn.Module, info) -> Optional[set]:
    """Names of the modules whose output a BatchNorm takes as its input, from one forward on the model's device
    (the meta device: no arithmetic); None when the model does not run there."""
    from ..sharing import SharedConv2d

    outputs: Dict[int, str] = {}
    fed: set = set()
    keep: List[torch.Tensor] = []  # outputs stay alive, so their ids are not reused

    def record(name):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor):
                keep.append(output)
                outputs[id(output)] = name
        return hook

    def check(module, args):
        if args and isinstance(args[0], torch.Tensor) and id(args[0]) in outputs:
            fed.add(outputs[id(args[0])])

    handles = []
    for name, m in model.named_modules():
        if isinstance(m, (SharedConv2d, nn.Conv2d)):
            handles.append(m.register_forward_hook(record(name)))
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_pre_hook(check))
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            model(torch.zeros(1, info.in_channels, info.image_size, info.image_size, device=device))
    except Exception:  # noqa: BLE001 - a model that cannot run on meta: 1x1 convs are not split by what follows
        return None
    finally:
        for h in handles:
            h.remove()
    return fed


def samples_by_kind(model: nn.Module, bn_fed: Optional[set]) -> Dict[str, List[Sample]]:
    """Every parameter of the built model once, as a Sample of its kind."""
    from ..sharing import SharedConv2d, SharedR2Conv

    kinds: Dict[str, List[Sample]] = {}
    seen: set = set()

    def add(kind: str, name: str, p: torch.Tensor, fan_in: int = 1, fan_out: int = 1, basis_std=None) -> None:
        if id(p) in seen:
            return
        seen.add(id(p))
        step = _step(p)
        kinds.setdefault(kind, []).append(Sample(name, _values(p), fan_in, fan_out,
                                                 None if basis_std is None else basis_std[::step]))

    def conv_kind(name: str, kernel: int) -> str:
        if kernel > 1:
            return "conv"
        return "conv1x1_bn" if bn_fed is not None and name in bn_fed else \
            ("linear1x1" if bn_fed is not None else "conv1x1_bn")

    sharing = getattr(model, "sharing", None)
    for name, m in model.named_modules():
        if isinstance(m, SharedR2Conv):
            own = m.bank.own_parameter(m.slot)
            if own is not None:
                add("r2conv", name, own, basis_std=_basis_std(m))
        elif isinstance(m, SharedConv2d):
            fan_in, fan_out = m.in_channels * m.kernel_size ** 2, m.out_channels * m.kernel_size ** 2
            own = m.bank.own_parameter(m.slot)
            if own is not None:
                add(conv_kind(name, m.kernel_size), name, own, fan_in, fan_out)
            if m.bias is not None:
                add("conv_bias", name, m.bias, fan_in, fan_out)
        elif isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            add(conv_kind(name, m.kernel_size[0]), name, m.weight, m.in_channels * k, m.out_channels * k)
            if m.bias is not None:
                add("conv_bias", name, m.bias, m.in_channels * k, m.out_channels * k)
        elif isinstance(m, nn.Linear):
            add("fc", name, m.weight, m.in_features, m.out_features)
            if m.bias is not None:
                add("fc_bias", name, m.bias, m.in_features, m.out_features)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            add("bn_weight", name, m.weight)
            add("bn_bias", name, m.bias)
    for bank_name, bank in (sharing.banks.items() if sharing is not None else ()):
        if hasattr(bank, "templates") and hasattr(bank, "coefficients"):
            o, i, kh, kw = bank.shape
            for j in range(bank.templates.shape[0]):
                kinds.setdefault("templates", []).append(
                    Sample(f"{bank_name}.templates", _values(bank.templates[j]), i * kh * kw, o * kh * kw))
            seen.update({id(bank.templates), id(bank.coefficients)})
            kinds.setdefault("alpha", []).append(Sample(bank_name, bank.coefficients.detach().double()))
        if hasattr(bank, "parent") and hasattr(bank, "tilings"):
            o, i, kh, kw = bank.parent.shape
            add("parents", bank_name, bank.parent, i * kh * kw, o * kh * kw)
            for tiling in bank.tilings.values():
                tiles = tiling.g_out * tiling.g_in
                for p in (tiling.b1, tiling.b2):  # each of b1, b2 a (1, tiles) tensor, as the authors' init reads it
                    add("beta", bank_name, p, tiles, 1)
                for p in (tiling.rows, tiling.cols):
                    if p is not None:
                        add("beta_rest", bank_name, p)
    for name, p in model.named_parameters():
        if id(p) not in seen:
            add("other", name, p)
    return kinds


def _step(p: torch.Tensor) -> int:
    return max(1, math.ceil(p.numel() / MAX_VALUES))


def _values(p: torch.Tensor) -> torch.Tensor:
    """At most MAX_VALUES of the tensor's values, evenly strided (every output channel is read)."""
    return p.detach().flatten()[::_step(p)].double()


def _basis_std(layer) -> torch.Tensor:
    from e2cnn.nn.init import _generalized_he_init_variances, cached_he_vars

    be = layer.basisexpansion
    std = cached_he_vars.get(be)  # e2cnn multiplies randn by these "vars": they are standard deviations
    return (std if std is not None else _generalized_he_init_variances(be)).double()


def describe(kinds: Dict[str, List[Sample]]) -> Dict[str, str]:
    """kind label -> its init, from samples_by_kind."""
    out: Dict[str, str] = {}
    for kind, samples in sorted(kinds.items(), key=lambda kv: list(KINDS).index(kv[0])):
        if kind == "alpha":
            labels: Dict[str, List[str]] = {}
            for s in samples:
                if s.redraw:
                    continue
                a = s.values
                label = _alpha_label(a) or render(classify([Sample(s.name, a.flatten(), a.shape[1], a.shape[0])]))
                labels.setdefault(label, []).append(s.name)
            out[KINDS[kind]] = render(sorted(labels.items(), key=lambda kv: -len(kv[1])))
        else:
            out[KINDS[kind]] = render(classify(samples))
    return out


def summary(parts: Dict[str, str]) -> str:
    return "; ".join(f"{kind}: {label}" for kind, label in parts.items())


def probe(cfg) -> Dict[str, str]:
    """describe() of a composed config's model, built on the CPU from seed 0 (so the text is reproducible); what
    feeds a BN is read on a meta-device copy, or on the CPU model where the meta device cannot build it (e2cnn)."""
    from ..data import build_data
    from ..models import build_model
    from .counting import build_composed

    info = build_data(cfg.dataset).info
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.sharing, info)
    fed = None
    if any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) or getattr(m, "kernel_size", None) == 1
           for m in model.modules()):  # only 1x1 convs are told apart by what follows them
        fed = _bn_fed(build_composed(cfg)[0], info)  # the meta-device topology (a CPU build where it cannot be)
    kinds = samples_by_kind(model, fed)
    pooled = {k: sum(s.values.numel() for s in ss if s.values.numel() < SMALL and not _constant(s))
              for k, ss in kinds.items() if k != "alpha"}
    short = {k: n for k, n in pooled.items() if 0 < n < MIN_POOLED and _undecided(kinds[k])}
    cheap = sum(p.numel() for p in model.parameters()) <= REDRAW_PARAMS and "r2conv" not in kinds
    if short and cheap:
        for seed in range(1, min(MAX_DRAWS, math.ceil(MIN_POOLED / min(short.values())))):
            torch.manual_seed(seed)
            again = samples_by_kind(build_model(cfg.model, cfg.sharing, info), fed)
            for k in short:
                kinds[k] += [dataclasses.replace(s, redraw=True) for s in again.get(k, [])
                             if s.values.numel() < SMALL and not _constant(s)]
    return describe(kinds)


def _undecided(samples: Sequence[Sample]) -> bool:
    """The small tensors of a kind fit no family, or more than one that RESOLUTION tells apart."""
    small = [s for s in samples if s.values.numel() < SMALL and not _constant(s)]
    fits = [f for f in FAMILIES if _log_likelihood(f, small) is not None]
    return not fits or any(not _alike(f, fits[0], small) for f in fits[1:])


def _constant(s: Sample) -> bool:
    return bool(s.values.numel()) and bool((s.values == s.values[0]).all())
