"""The cross-scheme benchmark's figure: test accuracy against |W| (top) and against MACs (bottom), one panel
per backbone, one marker per scheme; filled where the scheme matched the unshared model's |W|, hollow where it
matched its MACs, the reference itself in black. Mean ± std over seeds; the budget is in the title."""
from __future__ import annotations

from pathlib import Path
from typing import List

import matplotlib.pyplot as plt
import pandas as pd

from ..benchmark import BACKBONES, MATCHED, PAPER, benchmark_points, budget_text, panels
from .common import save

MARKERS = {"none": "o", "hard": "s", "soft": "^", "repeat": "D"}
COLOURS = {"none": "black", "hard": "C0", "soft": "C1", "repeat": "C2"}
AXES = (("params", "parameters |W| (log)"), ("macs", "MACs per image (log)"))


def matched_figure(points: pd.DataFrame, dataset: str):
    """The figure of one data set's points (benchmark_points)."""
    shown = panels(points)
    fig, axes = plt.subplots(len(AXES), len(shown), figsize=(4.6 * len(shown), 7.6), squeeze=False,
                             layout="constrained")
    for column, (backbone, part) in enumerate(shown):
        for (x, x_label), ax in zip(AXES, axes[:, column]):
            for line in part.to_dict("records"):
                scheme = line["scheme"]
                filled = line["matched"] in ("reference", "params", "params_conv")
                ax.errorbar(line[x], line["acc"], yerr=line["std"], marker=MARKERS.get(scheme, "x"), ms=7,
                            capsize=3, ls="none", color=COLOURS.get(scheme, "grey"),
                            mfc=COLOURS.get(scheme, "grey") if filled else "white",
                            label=f"{scheme}, {MATCHED.get(line['matched'], line['matched'])}")
            ax.set_xscale("log")
            ax.set(xlabel=x_label, ylabel="test accuracy (%)")
            ax.grid(alpha=0.3, which="both")
        axes[0, column].set_title(f"{BACKBONES[backbone]} ({backbone})")
        axes[0, column].legend(fontsize=6)
    fig.suptitle(f"{PAPER}: sharing schemes at matched |W| (filled) and matched MACs (hollow), {dataset} — "
                 f"mean ± std over seeds — {budget_text(points)}", fontsize=9)
    return fig


def matched_plots(runs: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> List[Path]:
    """compare_benchmark_<dataset>.{png,pdf} for every data set the benchmark ran on."""
    points = benchmark_points(runs, metrics)
    return [save(matched_figure(part, dataset), Path(out_dir) / f"{PAPER}_benchmark_{dataset}")
            for dataset, part in points.groupby("dataset", sort=True)]
