"""`python -m repeatnet_repro.count [overrides]`: parameter, |W_conv|, MAC and FLOP counts as JSON.

Takes the same overrides as train; builds the model on the meta-free CPU without touching any data
set (only the data set's shapes are needed). With `reference=[...]` (overrides of a reference model,
e.g. `reference=[sharing=none]`) it also reports the compression C = |W_conv|(reference) / |W_conv|.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Dict, List

from .analysis.counting import count_model
from .config import compose
from .data import build_data
from .models import build_model


def count_composed(cfg: Any) -> Dict[str, Any]:
    info = build_data(cfg.dataset).info
    return count_model(build_model(cfg.model, cfg.sharing, info), info)


def count_config(overrides: List[str]) -> Dict[str, Any]:
    """Counts of the config these overrides compose (and compression vs its `reference`)."""
    cfg = compose(overrides)
    out = {"model": cfg.model.name, "sharing": cfg.sharing.name, "dataset": cfg.dataset.name,
           **count_composed(cfg)}
    if cfg.reference:
        ref = count_composed(compose(list(overrides) + list(cfg.reference)))
        out["reference"] = {"overrides": list(cfg.reference), "params": ref["params"],
                            "params_conv": ref["params_conv"]}
        out["compression"] = ref["params_conv"] / out["params_conv"]
    return out


def main(argv: List[str]) -> int:
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
    sys.exit(main(sys.argv[1:]))
