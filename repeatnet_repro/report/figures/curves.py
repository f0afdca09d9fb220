"""Per-epoch curves from metrics.jsonl: learning curves of every item, soft sharing Fig. 5's held-out F1."""
from __future__ import annotations

from pathlib import Path
from typing import List

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from ..tables import largest_budget
from .common import budget_title, save

RUN_KEYS = ["run_dir", "paper", "item", "row", "dataset", "seed", "budget", "epochs"]


def _with_runs(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics.merge(runs[RUN_KEYS].rename(columns={"epochs": "run_epochs"}), on="run_dir")


def _budget(part: pd.DataFrame) -> str:
    return budget_title(part.drop_duplicates("run_dir").rename(columns={"run_epochs": "epochs"}))


def learning_curves(runs: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Per item: test accuracy (or F1) per epoch, one line per run, labelled row / seed."""
    written = []
    if metrics.empty or runs.empty:
        return written
    for (paper, item), part in _with_runs(runs, metrics).groupby(["paper", "item"], dropna=True):
        metric = "test_f1" if "test_f1" in part and part["test_f1"].notna().any() else "test_acc"
        fig, ax = plt.subplots(figsize=(6, 4))
        for (row, seed), run in part.groupby(["row", "seed"], dropna=False):
            run = run.sort_values("epoch")
            ax.plot(run["epoch"], run[metric], marker="o", ms=3, label=f"{row} (seed {seed})")
        ax.set(xlabel="epoch", ylabel=metric.replace("test_", "test "),
               title=f"{paper}/{item} — {_budget(part)}")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
        written.append(save(fig, Path(out_dir) / f"{paper}_{item}_curves"))
    return written


def mark_phases(ax, phase_by_epoch: pd.Series) -> None:
    """A dashed line where the training phase changes, and the phase's number at the foot of its epochs."""
    starts = phase_by_epoch[phase_by_epoch.ne(phase_by_epoch.shift())]
    for epoch, phase in starts.items():
        if epoch != phase_by_epoch.index[0]:
            ax.axvline(epoch - 0.5, color="grey", ls="--", lw=0.8)
        ax.text(epoch - 0.4, 0.01, f"train {int(phase)}", transform=ax.get_xaxis_transform(), fontsize=6,
                va="bottom", color="grey")


def heldout_f1_curves(runs: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Soft sharing Fig. 5: per model (row), held-out F1 of every difficulty per epoch of the curriculum."""
    all_cols = sorted(c for c in metrics.columns if c.startswith("heldout") and c.endswith("_f1"))
    if not all_cols:
        return []
    written = []
    for (paper, item), part in _with_runs(runs, metrics).groupby(["paper", "item"], dropna=True):
        cols = [c for c in all_cols if part[c].notna().any()]
        if not cols:  # an item whose runs have no held-out sets
            continue
        part = largest_budget(part, epochs="run_epochs")  # a row's curve averages one budget's runs
        rows = list(dict.fromkeys(part["row"]))
        fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.5), sharey=True, squeeze=False)
        for ax, row in zip(axes[0], rows):
            by_epoch = part[part["row"] == row].groupby("epoch")
            run = by_epoch[cols].mean()
            for col in cols:
                phase = col.removeprefix("heldout").removesuffix("_f1")
                ax.plot(run.index, run[col], marker="o", ms=3, label=f"phase {phase}")
            if "train_phase" in part:
                mark_phases(ax, by_epoch["train_phase"].first().dropna())
            ax.set(title=str(row), xlabel="epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("held-out F1")
        axes[0][-1].legend(fontsize=7, title="difficulty")
        fig.suptitle(f"{paper}/{item}: F1 on held-out sets of every difficulty — {_budget(part)}", y=1.03)
        written.append(save(fig, Path(out_dir) / f"{paper}_{item}_heldout_f1"))
    return written
