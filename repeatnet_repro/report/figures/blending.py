"""ShardNet Fig. 4, 7, 8: the blending (unshared 1x1) layers of trained SL models.

One panel per layer in network order, one row of panels per run: the (out, in) weight matrix (input
channels along x, output channels along y) in a diverging colour map centred at 0, and per output
channel the `k` weights of smallest |w| marked blue and the `k` of largest |w| marked red, as in the
paper's figures (k = 32 there; never more than half of a row, so the two sets stay apart).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import budget_title, completed, run_label, save

ITEMS = ("fig4", "fig7", "fig8")
BLUE, RED = (0.0, 0.2, 1.0, 1.0), (1.0, 0.0, 0.0, 1.0)


def extremes(weights: np.ndarray, k: int = 32) -> np.ndarray:
    """Per row: -1 at the min(k, in/2) weights of smallest magnitude, +1 at as many of largest, 0 elsewhere."""
    k = min(k, weights.shape[1] // 2)
    order = np.argsort(np.abs(weights), axis=1, kind="stable")
    mask = np.zeros(weights.shape, dtype=np.int8)
    rows = np.arange(weights.shape[0])[:, None]
    mask[rows, order[:, :k]] = -1
    mask[rows, order[:, weights.shape[1] - k:]] = 1
    return mask


def blending_weights(run_dir: Path) -> Dict[str, np.ndarray]:
    """The run's blending_weights analysis ({layer name: (out, in)} in network order), or {}."""
    path = Path(run_dir) / "artifacts" / "analysis" / "blending_weights.npz"
    if not path.is_file():
        return {}
    with np.load(path) as arrays:
        return {name: arrays[name] for name in arrays.files}


def draw_blending(ax, name: str, weights: np.ndarray, k: int = 32) -> None:
    """One layer's panel: its weights centred at 0, each output channel's k extremes marked."""
    limit = float(np.abs(weights).max()) or 1.0
    ax.imshow(weights, cmap="PuOr", vmin=-limit, vmax=limit, interpolation="nearest", aspect="auto")
    mask = extremes(weights, k)
    overlay = np.zeros(weights.shape + (4,))
    overlay[mask == -1] = BLUE
    overlay[mask == 1] = RED
    ax.imshow(overlay, interpolation="nearest", aspect="auto")
    ax.set_title(f"{name} ({weights.shape[0]}×{weights.shape[1]})", fontsize=7)
    ax.set_xlabel("input channel", fontsize=6)
    ax.tick_params(labelsize=5)


def blending_figure(item: str, runs: pd.DataFrame, k: int = 32):
    """The figure of one ShardNet item, or None when none of its runs saved blending weights."""
    mine = completed(runs, "shardnet", item)
    rows = [(run_label(run), layers) for run in mine.sort_values(["row", "seed"]).to_dict("records")
            if (layers := blending_weights(run["run_dir"]))]
    if not rows:
        return None
    cols = max(len(layers) for _, layers in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.8 * cols, 3.0 * len(rows) + 0.4), squeeze=False,
                             gridspec_kw={"hspace": 0.4})
    for (label, layers), ax_row in zip(rows, axes):
        for ax in ax_row[len(layers):]:
            ax.axis("off")
        for ax, (name, weights) in zip(ax_row, layers.items()):
            draw_blending(ax, name, weights, k)
        ax_row[0].set_ylabel(f"{label}\noutput channel", fontsize=7)
    fig.suptitle(f"shardnet/{item}: blending-layer weights (PuOr, centred at 0); per output channel the "
                 f"min({k}, in/2) smallest |w| blue, largest red — {budget_title(mine)}", fontsize=9, y=0.95)
    return fig


def blending_plots(runs: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Every ShardNet blending-map figure whose runs saved their 1x1 weights."""
    written = []
    for item in ITEMS:
        fig = blending_figure(item, runs)
        if fig is not None:
            written.append(save(fig, Path(out_dir) / f"shardnet_{item}_blending"))
    return written
