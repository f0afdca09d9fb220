"""Accuracy (or error) against a size measure, our runs beside the paper's points.

ShardNet Fig. 2/3 (accuracy vs compression C, log x), soft sharing Fig. 3 (error vs parameters) and
RepeatNet Fig. 2 (accuracy vs params / params(VGG11)) are the same plot: one panel per data set, one
series per model family (rows matched by a pattern), our runs as mean ± std over seeds (filled markers)
and the paper's reported values as hollow markers. Each figure is a `TradeOff` declaration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..tables import QUANTITIES
from .common import budget_title, completed, save

Measure = Callable[[pd.DataFrame], pd.Series]
DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "tinyimagenet": "Tiny ImageNet"}


@dataclass(frozen=True)
class Series:
    """A model family: the rows whose label matches `pattern`; its group `n` labels each point."""
    name: str
    pattern: str


@dataclass(frozen=True)
class TradeOff:
    """One figure: `y` is a quantity of tables.QUANTITIES (read per data set), `x` a size measure of a run
    row (flattened summary.json); `paper_x` the same measure of a reported row (its columns are the
    reported quantities), when it is computed differently; `overlay` the reported items of the same paper
    whose rows (those matching a series, or `quoted`) are drawn as the paper's points; x is multiplied by
    `x_scale` (e.g. 1e-6 for millions of parameters)."""
    paper: str
    item: str
    what: str
    y: str
    x: Measure
    x_label: str
    series: Tuple[Series, ...]
    datasets: Tuple[str, ...]
    log_x: bool = False
    x_scale: float = 1.0
    overlay: Tuple[str, ...] = ()
    paper_x: Optional[Measure] = None
    quoted: Optional[str] = None


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column, all-NaN when no run record has it yet."""
    if name not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[name], errors="coerce")


def compression(frame: pd.DataFrame) -> pd.Series:
    """C of a run; an unshared run without a declared reference is its own reference (C = 1)."""
    c = column(frame, "compression")
    unshared = frame["sharing"].eq("none") if "sharing" in frame else pd.Series(False, index=frame.index)
    return c.where(c.notna() | ~unshared, 1.0)


def compression_vs_vggnet(frame: pd.DataFrame) -> pd.Series:
    """The paper's C in Fig. 2/3: |W_conv|(VGGNet*) / |W_conv| (Tables 1a/6 print C against the E-VGGNet of
    the same n instead, so it is recomputed from the printed |W_conv|, as Table 1b-d do)."""
    baseline = column(frame, "params_conv")[frame["row"] == "VGGNet*"]
    if baseline.empty:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return baseline.iloc[0] / column(frame, "params_conv")


def parameter_fraction(frame: pd.DataFrame) -> pd.Series:
    """params / params(reference): RepeatNet Fig. 2's fraction of VGG11's parameters."""
    return column(frame, "params") / column(frame, "reference_params")


_VGGNET_OVERLAY = ("table1a", "table6a", "table6b", "table1b", "table1c", "table1d")
TRADEOFFS: Tuple[TradeOff, ...] = (
    TradeOff("shardnet", "fig2", "accuracy vs compression (S-VGGNet over n, VGGNet* baseline)", "acc",
             compression, "compression C vs VGGNet* (log)",
             (Series("S-VGGNet", r"^S-VGGNet \(n=(?P<n>\d+)\)$"), Series("VGGNet*", r"^VGGNet\*$")),
             ("cifar10", "cifar100"), log_x=True, overlay=_VGGNET_OVERLAY, paper_x=compression_vs_vggnet),
    TradeOff("shardnet", "fig3", "accuracy vs compression (S- and SL-VGGNet over n, VGGNet* baseline)", "acc",
             compression, "compression C vs VGGNet* (log)",
             (Series("S-VGGNet", r"^S-VGGNet \(n=(?P<n>\d+)\)$"),
              Series("SL-VGGNet", r"^SL-VGGNet \(n=(?P<n>\d+)\)$"), Series("VGGNet*", r"^VGGNet\*$")),
             ("cifar10", "cifar100", "tinyimagenet"), log_x=True, overlay=_VGGNET_OVERLAY,
             paper_x=compression_vs_vggnet),
    TradeOff("softshare", "fig3", "parameter efficiency (WRN vs SWRN)", "error",
             lambda f: column(f, "params"), "parameters (M)",
             (Series("WRN 28-w", r"^WRN 28-(?P<n>\d+)\*$"), Series("SWRN 28-w (k=6)", r"^SWRN 28-(?P<n>\d+)\*$"),
              Series("SWRN 28-w-2", r"^SWRN 28-(?P<n>\d+)-2\*$")),
             ("cifar10", "cifar100"), x_scale=1e-6, overlay=("table2", "table1"),
             quoted=r"^(ResNeXt|DenseNet)"),
    TradeOff("repeatnet", "fig2", "accuracy vs parameter fraction of VGG11 (depth scaling)", "acc",
             parameter_fraction, "params / params(VGG11)",
             (Series("VGG-n", r"^VGG(?P<n>\d+)$"), Series("RepeatNet VGG-n", r"^RepeatNet VGG(?P<n>\d+)$")),
             ("cifar10", "cifar100")),
)


def _series_of(decl: TradeOff, row: str) -> Optional[Tuple[str, str]]:
    for series in decl.series:
        match = re.match(series.pattern, str(row))
        if match:
            return series.name, match.groupdict().get("n") or ""
    return None


def _our_points(decl: TradeOff, runs: pd.DataFrame, dataset: str) -> List[Dict]:
    mine = runs[runs.dataset == dataset]
    if mine.empty:
        return []
    mine = mine.assign(x=decl.x(mine) * decl.x_scale,
                       y=[QUANTITIES[decl.y](r) for r in mine.to_dict("records")])
    points = []
    for row, part in mine.groupby("row", sort=False):
        found = _series_of(decl, row)
        values = part.dropna(subset=["x", "y"])
        if found is None or values.empty:
            continue
        points.append({"dataset": dataset, "source": "ours", "series": found[0], "label": found[1], "row": row,
                       "x": values.x.mean(), "y": values.y.mean(), "n": len(values),
                       "std": values.y.std(ddof=1) if len(values) > 1 else 0.0})
    return points


def _paper_points(decl: TradeOff, reported: pd.DataFrame, dataset: str) -> List[Dict]:
    rep = reported[(reported.paper == decl.paper) & reported.item.isin(decl.overlay)]
    y_col = f"{decl.y}@{dataset}"
    if rep.empty or y_col not in set(rep.column):
        return []
    wide = rep.assign(value=pd.to_numeric(rep.value, errors="coerce")).pivot_table(
        index=["item", "row"], columns="column", values="value", aggfunc="first").reset_index()
    wide = wide[wide[y_col].notna()]
    wide = wide.assign(x=(decl.paper_x or decl.x)(wide) * decl.x_scale, y=wide[y_col]).dropna(subset=["x"])
    points = []
    for line in wide.drop_duplicates("row").to_dict("records"):
        found = _series_of(decl, line["row"])
        if found is None and not (decl.quoted and re.match(decl.quoted, line["row"])):
            continue
        series, label = found or ("quoted", line["row"])
        points.append({"dataset": dataset, "source": "paper", "series": series, "label": label,
                       "row": line["row"], "x": line["x"], "y": line["y"], "n": 1, "std": 0.0})
    return points


def tradeoff_points(decl: TradeOff, runs: pd.DataFrame, reported: pd.DataFrame) -> pd.DataFrame:
    """Every point of the figure: per data set with runs, our rows (mean/std/n over seeds) and the paper's."""
    mine = completed(runs, decl.paper, decl.item)
    datasets = [d for d in decl.datasets if d in set(mine.dataset)] if not mine.empty else []
    points = [p for d in datasets for p in _our_points(decl, mine, d) + _paper_points(decl, reported, d)]
    columns = ["dataset", "source", "series", "label", "row", "x", "y", "n", "std"]
    return pd.DataFrame(points, columns=columns)


def tradeoff_figure(decl: TradeOff, runs: pd.DataFrame, reported: pd.DataFrame):
    """(figure, points), or None when no run of the item has a point to draw."""
    points = tradeoff_points(decl, runs, reported)
    if not (points.source == "ours").any():
        return None
    datasets = list(dict.fromkeys(points.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 4.2), squeeze=False)
    colours = {s.name: f"C{i}" for i, s in enumerate(decl.series)}
    y_label = {"acc": "test accuracy (%)", "error": "test error (%)"}.get(decl.y, decl.y)
    for ax, dataset in zip(axes[0], datasets):
        here = points[points.dataset == dataset]
        for series in decl.series:
            for source, style in (("ours", {"mfc": None, "ls": "-"}), ("paper", {"mfc": "none", "ls": ":"})):
                part = here[(here.series == series.name) & (here.source == source)].sort_values("x")
                if part.empty:
                    continue
                label = f"{series.name} (ours)" if source == "ours" else f"{series.name} — paper (reported)"
                ax.errorbar(part.x, part.y, yerr=part["std"] if source == "ours" else None, marker="o",
                            ms=6, capsize=3, color=colours[series.name], label=label, **style)
                for x, y, text in zip(part.x, part.y, part.label):
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=6,
                                color=colours[series.name])
        quoted = here[here.series == "quoted"]
        if not quoted.empty:
            ax.plot(quoted.x, quoted.y, "s", mfc="none", color="grey", label="quoted — paper (reported)")
            for x, y, text in zip(quoted.x, quoted.y, quoted.label):
                ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, -8), fontsize=6, color="grey")
        if decl.log_x:
            ax.set_xscale("log")
        ax.set(title=DATASET_NAMES.get(dataset, dataset), xlabel=decl.x_label, ylabel=y_label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    budget = budget_title(completed(runs, decl.paper, decl.item))
    fig.suptitle(f"{decl.paper}/{decl.item}: {decl.what} — ours: mean ± std over seeds — {budget}", y=1.02)
    return fig, points


def tradeoff_plots(runs: pd.DataFrame, reported: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Every declared trade-off figure whose runs exist."""
    written = []
    for decl in TRADEOFFS:
        drawn = tradeoff_figure(decl, runs, reported)
        if drawn is not None:
            written.append(save(drawn[0], Path(out_dir) / f"{decl.paper}_{decl.item}_tradeoff"))
    return written
