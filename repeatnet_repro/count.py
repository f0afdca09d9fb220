"""`python -m repeatnet_repro.count [overrides]`: parameter, |W_conv|, MAC and FLOP counts as JSON.

Takes the same overrides as train; never touches a data set (only its shapes are needed) and builds
the model on PyTorch's meta device (shapes, no storage), so even ImageNet-size models count in a
fraction of a second. With `'reference=["sharing=none"]'` (overrides of a reference model; quote them,
since they contain `=`) it also reports the compression C = |W_conv|(reference) / |W_conv|.
With `match.params="OVERRIDES"` (or match.params_conv, match.macs) it first finds the width at which the
model's |W| (|W_conv|, MACs) equals that of the reference config OVERRIDES (the run's overrides with these on
top) and prints the counts there, with `match`: the width key and value chosen, the target and the ratio.
`--list` prints instead which sharing schemes apply to which model, with their groups or the reason of each
refusal (the table of docs/capabilities.md, analysis/capabilities.py).
"""
from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Optional

from .analysis.counting import count_composed, reference_counts
from .analysis.matching import MEASURES, match_width
from .config import compose, validate


def count_config(overrides: List[str]) -> Dict[str, Any]:
    """Counts of the config these overrides compose, at its matched width when `match.*` names a target
    (and compression vs its `reference`)."""
    cfg = compose(overrides)
    validate(cfg)
    matched = match_width(cfg, overrides)
    out = {"model": cfg.model.name, "sharing": cfg.sharing.name, "dataset": cfg.dataset.name,
           **count_composed(cfg), **({"match": matched} if matched else {})}
    if cfg.reference:
        out["reference"] = reference_counts(overrides, cfg.reference)
        out["compression"] = out["reference"]["params_conv"] / out["params_conv"]
    return out


def requoted(argv: List[str]) -> List[str]:
    """`match.<measure>=OVERRIDES` as a shell passes `match.params="model.widen=4 sharing=none"` (its quotes
    gone), quoted again for Hydra's parser."""
    def fix(arg: str) -> str:
        key, _, value = arg.partition("=")
        bare = key.removeprefix("match.") in MEASURES and key.startswith("match.") and value[:1] not in ("'", '"')
        return f"{key}='{value}'" if bare and value and "'" not in value else arg

    return [fix(a) for a in argv]


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m repeatnet_repro.count` and the `rr-count` console script (argv: sys.argv[1:])."""
    argv = requoted(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if "--list" in argv:
        if argv != ["--list"]:
            print(f"error: --list takes no overrides (it builds every model at its defaults); got {argv}",
                  file=sys.stderr)
            return 2
        from .analysis.capabilities import capabilities, markdown

        print(markdown(capabilities()), end="")
        return 0
    try:
        print(json.dumps(count_config(argv), indent=2, default=str))
    except Exception as err:  # compose errors, impossible sharing, bad options: one line each
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
