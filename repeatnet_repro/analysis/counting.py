"""|W|, |W_conv|, MACs and FLOPs of a built model, read from its weight banks so every scheme counts right.

|W_conv| follows ShardNet's convention (EXPERIMENTS.md §2): the weights of every conv layer (kxk and
1x1) plus the biases of the kxk (k > 1) convs only; BatchNorm and fully connected layers excluded; a
shared weight counts once. For soft and repeat sharing a conv's "weights" are its bank's real
parameters (templates and coefficients; parents and betas); an e2cnn R2Conv's are its steerable-basis
coefficients (its free parameters; the expanded filter is computed from them).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..config import compose
from ..data import build_data
from ..data.base import DataInfo
from ..models import build_model
from ..sharing import SharedConv2d, SharedLayer


def trainable_params(model: nn.Module) -> int:
    """|W|: every trainable parameter once, however many layers use it."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv_params(model: nn.Module) -> int:
    """|W_conv| (ShardNet convention): bank parameters + kxk conv biases (+ any plain torch conv), each once."""
    sharing = getattr(model, "sharing", None)
    counted = list(sharing.unique_parameters()) if sharing is not None else []
    for m in model.modules():
        if isinstance(m, SharedConv2d) and m.bias is not None and m.kernel_size > 1:
            counted.append(m.bias)
        elif isinstance(m, nn.modules.conv._ConvNd):
            counted.append(m.weight)
            if m.bias is not None and max(m.kernel_size) > 1:
                counted.append(m.bias)
    return sum(p.numel() for p in {id(p): p for p in counted}.values())


def macs_flops(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """FLOPs of the convolutions and linear layers for one input (batch 1, eval mode); MACs = FLOPs / 2.

    Counted with torch's FlopCounterMode; weight generation (templates, psi) is not inference work
    and is left out: only aten convolutions and the ops inside nn.Linear modules count.
    """
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    counts = counter.get_flop_counts()
    conv = sum(n for op, n in counts["Global"].items() if "convolution" in str(op))
    root = type(model).__name__
    linear = sum(sum(counts.get(f"{root}.{name}", {}).values())
                 for name, m in model.named_modules() if isinstance(m, nn.Linear))
    flops = conv + linear
    return {"macs": flops // 2, "flops": flops}


def count_model(model: nn.Module, info: DataInfo) -> Dict[str, Any]:
    """params, params_conv, macs, flops (one image shaped like the data set's) and the sharing groups."""
    out: Dict[str, Any] = {"params": trainable_params(model), "params_conv": conv_params(model)}
    out.update(macs_flops(model, (info.in_channels, info.image_size, info.image_size)))
    sharing = getattr(model, "sharing", None)
    out["groups"] = sharing.summary() if sharing is not None else {}
    return out


def unshared_conv_params(model: nn.Module) -> int:
    """|W_conv| the same layers would have unshared: one weight each (and its bias, kxk convs only)."""
    return sum(math.prod(m.weight_shape) + (m.bias.numel() if m.bias is not None and m.kernel_size > 1 else 0)
               for m in model.modules() if isinstance(m, SharedLayer))


def build_composed(cfg: Any) -> Tuple[nn.Module, DataInfo]:
    """A composed config's model (and its data shapes), built on the meta device; models whose construction
    computes real values (e2cnn's steerable bases) cannot be built there and are built on the CPU instead."""
    info = build_data(cfg.dataset).info
    try:
        with torch.device("meta"):
            return build_model(cfg.model, cfg.sharing, info), info
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel; .item() of a meta tensor
        return build_model(cfg.model, cfg.sharing, info), info  # a genuine build error recurs here, on the CPU


def count_composed(cfg: Any) -> Dict[str, Any]:
    """count_model of a composed config's model, built on the meta device where it can be (build_composed)."""
    return count_model(*build_composed(cfg))


def reference_overrides(run: List[str], reference: List[str]) -> List[str]:
    """The run's overrides with the reference's on top; a group the reference chooses anew (`sharing=none`)
    drops the run's choice of it and the run's keys in it (`sharing.k_rep=2` is no key of sharing=none)."""
    def group(override: str) -> str:
        return override.lstrip("+~").split("=", 1)[0].split(".")[0]

    chosen = {group(o) for o in reference if "." not in o.lstrip("+~").split("=", 1)[0]}
    return [o for o in run if group(o) not in chosen] + list(reference)


def reference_counts(overrides: List[str], reference: List[str]) -> Dict[str, Any]:
    """Counts of the reference model (a row's `reference`): the run's own overrides with the reference's on top."""
    ref = count_composed(compose(reference_overrides(overrides, reference)))
    return {"overrides": list(reference), "params": ref["params"], "params_conv": ref["params_conv"]}


def compression(reference: nn.Module, model: nn.Module) -> float:
    """C = |W_conv|(reference) / |W_conv|(model), ShardNet's compression ratio."""
    return conv_params(reference) / conv_params(model)
