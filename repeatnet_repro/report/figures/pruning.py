"""ShardNet Fig. 5: test accuracy against the fraction of 1x1 (blending) weights pruned by magnitude,
without retraining; one line per run, with the paper's statement (accuracy unchanged up to 60%
pruned, C from 1.4 to 2.6) marked."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import PercentFormatter

from .common import budget_title, completed, read_json, run_label, save


def prune_points(run_dir: Path) -> Optional[List[Dict]]:
    """The run's prune_blending points (artifact, else the short form in summary.json), or None."""
    artifact = read_json(Path(run_dir) / "artifacts" / "analysis" / "prune_blending.json")
    if artifact is not None:
        return artifact["points"]
    summary = read_json(Path(run_dir) / "summary.json") or {}
    return ((summary.get("analysis") or {}).get("prune_blending") or {}).get("points")


def paper_statement(reported: pd.DataFrame) -> List[Dict]:
    """The reported Fig. 5 rows as (fraction, compression), the fraction read from the row label."""
    rows = reported[(reported.paper == "shardnet") & (reported.item == "fig5") & (reported.column == "compression")]
    out = []
    for row, value in zip(rows.row, rows.value):
        match = re.search(r"(\d+)% pruned", str(row))
        if match:
            out.append({"fraction": int(match.group(1)) / 100, "compression": float(value)})
    return sorted(out, key=lambda p: p["fraction"])


def pruning_figure(runs: pd.DataFrame, reported: pd.DataFrame):
    """(figure, {run label: fractions plotted}), or None when no Fig. 5 run has pruning points."""
    mine = completed(runs, "shardnet", "fig5")
    curves = [(run_label(run), points) for run in mine.sort_values(["row", "seed"]).to_dict("records")
              if (points := prune_points(run["run_dir"]))]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    plotted = {}
    for i, (label, points) in enumerate(curves):
        frame = pd.DataFrame(points).sort_values("fraction")
        ax.plot(frame.fraction, frame.test_acc, marker="o", ms=4, color=f"C{i}", label=f"{label} top-1")
        if "test_top5" in frame:
            ax.plot(frame.fraction, frame.test_top5, marker="^", ms=4, ls="--", color=f"C{i}", label=f"{label} top-5")
        ax.axhline(frame.test_acc.iloc[0], color=f"C{i}", lw=0.8, ls=":")
        plotted[label] = frame.fraction.tolist()
    statement = paper_statement(reported)
    if statement:
        last = statement[-1]
        ax.axvline(last["fraction"], color="grey", ls="--",
                   label=f"paper: accuracy unchanged up to {last['fraction']:.0%} pruned")
        text = " → ".join(f"C = {p['compression']:g} at {p['fraction']:.0%}" for p in statement)
        ax.text(0.02, 0.04, f"paper (reported): {text}", transform=ax.transAxes, fontsize=7, color="grey")
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set(xlabel="fraction of 1x1 (blending) weights pruned, smallest |w| first (no retraining)",
           ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"shardnet/fig5: accuracy vs pruning of the blending layers — {budget_title(mine)}", fontsize=9)
    return fig, plotted


def pruning_plots(runs: pd.DataFrame, reported: pd.DataFrame, out_dir: Path) -> List[Path]:
    drawn = pruning_figure(runs, reported)
    return [save(drawn[0], Path(out_dir) / "shardnet_fig5_pruning")] if drawn else []
