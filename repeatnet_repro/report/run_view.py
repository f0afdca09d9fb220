"""One run as W&B shows it: its figures and tables, read from its run dir (engine/tracking.py logs them).

Figures: the learning curves (loss and accuracy or F1 per epoch of every evaluated split), the trained
model's layer similarity matrices (soft sharing) and its blending-layer weights (ShardNet), drawn as the
report's figures draw their panels. Tables: the per-epoch metrics and each analysis' points (fold thresholds,
pruned fractions).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .figures.blending import blending_weights, draw_blending
from .figures.common import read_json
from .figures.lsm import draw_lsm, final_lsm

SPLITS = ("train", "val", "test")


def metrics(run_dir: Path) -> pd.DataFrame:
    path = Path(run_dir) / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return pd.DataFrame([json.loads(line) for line in lines if line.strip()])


def curves_figure(frame: pd.DataFrame):
    """Loss and the task's metric per epoch, one line per split; None before the first epoch."""
    if frame.empty:
        return None
    metric = "f1" if "test_f1" in frame else "acc"
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, what in zip(axes, ("loss", metric)):
        for split in SPLITS:
            if f"{split}_{what}" in frame:
                ax.plot(frame["epoch"], frame[f"{split}_{what}"], marker="o", ms=3, label=split)
        ax.set(xlabel="epoch", ylabel=what)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def lsm_figure(run_dir: Path):
    """Every sharing group's final LSM, one panel each; None for a model without template banks."""
    lsm = final_lsm(run_dir)
    if not lsm or not lsm.get("banks"):
        return None
    banks = lsm["banks"]
    fig, axes = plt.subplots(1, len(banks), figsize=(2.8 * len(banks) + 1, 3), squeeze=False)
    for ax, (group, bank) in zip(axes[0], banks.items()):
        image = draw_lsm(ax, np.asarray(bank["lsm"], dtype=float))
        ax.set_title(group, fontsize=8)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="layer similarity")
    fig.suptitle(f"layer similarity matrices (epoch {lsm['epoch']})", fontsize=9)
    return fig


def blending_figure(run_dir: Path):
    """Every blending layer's weights, one panel each; None when the run saved none."""
    layers = blending_weights(run_dir)
    if not layers:
        return None
    fig, axes = plt.subplots(1, len(layers), figsize=(2.8 * len(layers), 3.2), squeeze=False)
    for ax, (name, weights) in zip(axes[0], layers.items()):
        draw_blending(ax, name, weights)
    return fig


def figures(run_dir: Path) -> Dict[str, object]:
    """name -> matplotlib figure, for those the run has data for (the caller closes them)."""
    drawn = {"learning_curves": curves_figure(metrics(run_dir)), "lsm": lsm_figure(run_dir),
             "blending_weights": blending_figure(run_dir)}
    return {name: fig for name, fig in drawn.items() if fig is not None}


def tables(run_dir: Path) -> Dict[str, pd.DataFrame]:
    """name -> table: the per-epoch metrics and every analysis' points, for those the run has written."""
    out = {"metrics": metrics(run_dir)}
    for name in ("fold", "prune_blending"):
        result = read_json(Path(run_dir) / "artifacts" / "analysis" / f"{name}.json")
        if result and result.get("points"):
            out[name] = pd.DataFrame([{k: v for k, v in p.items() if not isinstance(v, (dict, list))}
                                      for p in result["points"]])
    return {name: frame for name, frame in out.items() if not frame.empty}
