"""`python -m repeatnet_repro.count [overrides]`: parameter, |W_conv|, MAC and FLOP counts as JSON.

Takes the same overrides as train; never touches a data set (only its shapes are needed) and builds
the model on PyTorch's meta device (shapes, no storage), so even ImageNet-size models count in a
fraction of a second. With `'reference=["sharing=none"]'` (overrides of a reference model; quote them,
since they contain `=`) it also reports the compression C = |W_conv|(reference) / |W_conv|.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Optional

import torch

from .analysis.counting import count_model
from .config import compose
from .data import build_data
from .models import build_model


def count_composed(cfg: Any) -> Dict[str, Any]:
    """Counts on the meta device; models whose construction computes real values (e2cnn's steerable
    bases) cannot be built there and are built on the CPU instead."""
    info = build_data(cfg.dataset).info
    try:
        with torch.device("meta"):
            model = build_model(cfg.model, cfg.sharing, info)
    except (NotImplementedError, RuntimeError):
        model = build_model(cfg.model, cfg.sharing, info)
    return count_model(model, info)


def reference_counts(overrides: List[str], reference: List[str]) -> Dict[str, Any]:
    """Counts of the reference model: the run's own overrides with the `reference` overrides on top."""
    ref = count_composed(compose(list(overrides) + list(reference)))
    return {"overrides": list(reference), "params": ref["params"], "params_conv": ref["params_conv"]}


def count_config(overrides: List[str]) -> Dict[str, Any]:
    """Counts of the config these overrides compose (and compression vs its `reference`)."""
    cfg = compose(overrides)
    out = {"model": cfg.model.name, "sharing": cfg.sharing.name, "dataset": cfg.dataset.name,
           **count_composed(cfg)}
    if cfg.reference:
        out["reference"] = reference_counts(overrides, cfg.reference)
        out["compression"] = out["reference"]["params_conv"] / out["params_conv"]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m repeatnet_repro.count` and the `rr-count` console script (argv: sys.argv[1:])."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        print(json.dumps(count_config(argv), indent=2, default=str))
    except Exception as err:  # compose errors, impossible sharing, bad options: one line each
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
