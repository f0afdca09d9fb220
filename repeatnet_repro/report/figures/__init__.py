"""Every paper figure rebuilt from run records (matplotlib, PNG and PDF, written atomically).

One module per figure family: per-epoch curves (curves), accuracy against a size measure with the paper's
points beside ours (tradeoff), soft sharing's layer similarity matrices and folding (lsm), ShardNet's
blending-layer maps (blending) and pruning curve (pruning), and the cross-scheme benchmark at matched
budgets (matched). A figure is drawn only when its runs exist.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import pandas as pd

from .blending import blending_plots
from .curves import heldout_f1_curves, learning_curves
from .lsm import lsm_plots
from .matched import matched_plots
from .pruning import pruning_plots
from .tradeoff import tradeoff_plots

__all__ = ["blending_plots", "heldout_f1_curves", "learning_curves", "lsm_plots", "matched_plots", "pruning_plots",
           "render_figures", "tradeoff_plots"]


def render_figures(runs: pd.DataFrame, metrics: pd.DataFrame, reported: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Every figure the run records allow (reported values drawn beside ours where the paper gives them)."""
    out_dir = Path(out_dir)
    return [*learning_curves(runs, metrics, out_dir), *heldout_f1_curves(runs, metrics, out_dir),
            *tradeoff_plots(runs, reported, out_dir), *lsm_plots(runs, reported, out_dir),
            *blending_plots(runs, out_dir), *pruning_plots(runs, reported, out_dir),
            *matched_plots(runs, metrics, out_dir)]
