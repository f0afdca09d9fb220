"""The cross-scheme benchmark (presets compare/<backbone>): every sharing scheme at the |W| and, separately, at
the MACs of the unshared model, per backbone, as one table (and figures/matched.py's figure of it).

A run's scheme is its `sharing`, what it was matched on its record's `match.measure` (params, params_conv,
macs; none: the unshared reference itself). Points are mean ± std over seeds of one row at its largest budget.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np
import pandas as pd

from ..engine.atomic import write_text
from .tables import QUANTITIES, budgets_of, fmt, largest_budget

PAPER = "compare"
#: the backbones of the benchmark (preset compare/<item>), in panel order
BACKBONES = {"resnet_cifar": "CIFAR ResNet", "wrn": "WRN", "vggnet": "VGGNet"}
SCHEMES = ("none", "hard", "soft", "repeat")
MATCHED = {"reference": "the unshared reference", "params": "matched |W|", "params_conv": "matched |W_conv|",
           "macs": "matched MACs"}
COLUMNS = ["dataset", "backbone", "row", "scheme", "matched", "width", "params", "params_conv", "macs", "acc",
           "std", "n", "budget", "train_images"]


def train_images(metrics: pd.DataFrame) -> pd.Series:
    """Training images each run saw, by run dir: per epoch images/s x seconds of its metrics row."""
    if metrics.empty or "train_images_per_s" not in metrics:
        return pd.Series(dtype=float)
    seen = (metrics.train_images_per_s * metrics.train_seconds).round()
    return seen.groupby(metrics.run_dir).sum()


def _integral(value):
    """A width as it was set: pandas reads a column of ints with gaps as floats."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def benchmark_points(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One line per data set, backbone and row: scheme, what it matched, the width chosen, mean counts, test
    accuracy mean / std / n over its completed runs (seeds), budget and train images per run."""
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    mine = runs[(runs.paper == PAPER) & runs.item.isin(list(BACKBONES)) & (runs.status == "completed")]
    mine = largest_budget(mine)
    seen = train_images(metrics)
    lines = []
    for (dataset, item, row), part in mine.groupby(["dataset", "item", "row"], sort=False):
        acc = pd.Series([QUANTITIES["acc"](r) for r in part.to_dict("records")], dtype=float).dropna()
        measure = part.match_measure.dropna() if "match_measure" in part else pd.Series(dtype=object)
        width = part.match_value.dropna() if "match_value" in part else pd.Series(dtype=object)
        images = seen.reindex(part.run_dir).dropna()
        lines.append({
            "dataset": dataset, "backbone": item, "row": row, "scheme": part.sharing.iloc[0],
            "matched": measure.iloc[0] if len(measure) else "reference",
            "width": f"{part.match_knob.dropna().iloc[0]}={_integral(width.iloc[0])}" if len(width) else "",
            **{k: pd.to_numeric(part[k], errors="coerce").mean() for k in ("params", "params_conv", "macs")},
            "acc": acc.mean() if len(acc) else np.nan, "std": acc.std(ddof=1) if len(acc) > 1 else 0.0,
            "n": len(acc), "budget": budgets_of(part), "train_images": images.mean() if len(images) else np.nan})
    points = pd.DataFrame(lines, columns=COLUMNS)
    order = {k: i for i, k in enumerate([*BACKBONES, *SCHEMES, *MATCHED])}
    return points.sort_values(["dataset", "backbone", "matched", "scheme"],
                              key=lambda c: c.map(order) if c.name != "dataset" else c, ignore_index=True)


def budget_text(points: pd.DataFrame) -> str:
    """The budget the points ran at, in epochs and training images per run ('short 4ep, 51,200 train images')."""
    images = points.train_images.dropna()
    seen = f", {images.min():,.0f} train images per run" if len(images) and images.min() == images.max() else (
        f", {images.min():,.0f}-{images.max():,.0f} train images per run" if len(images) else "")
    return "budget: " + ", ".join(sorted({b for bs in points.budget.dropna() for b in bs.split(",")})) + seen


def to_markdown(points: pd.DataFrame, dataset: str) -> str:
    """The benchmark of one data set: one line per backbone and row, the budget beneath."""
    shown = pd.DataFrame({
        "backbone": points.backbone.map(BACKBONES), "row": points.row,
        "matched": points.matched.map(MATCHED).str.replace("|", "\\|"),  # a bare | would split the cell
        "width": points.width.replace("", "(preset)"), "params": points.params.map(fmt),
        "MACs": points.macs.map(fmt),
        "test acc (%)": [f"{fmt(a)} ± {fmt(s)} (n={n})" for a, s, n in zip(points.acc, points["std"], points.n)]})
    return (f"# compare: every sharing scheme at matched budgets, {dataset}\n\n{shown.to_markdown(index=False)}\n\n"
            f"test accuracy = mean ± std over seeds; {budget_text(points)}. Written by `python -m "
            "repeatnet_repro.report` from the compare/<backbone> presets' runs.\n")


def render_benchmark_tables(runs: pd.DataFrame, metrics: pd.DataFrame, out_dir: Path) -> List[Path]:
    """tables/compare_benchmark_<dataset>.{md,csv} for every data set the benchmark ran on."""
    points = benchmark_points(runs, metrics)
    written = []
    for dataset, part in points.groupby("dataset", sort=True):
        stem = Path(out_dir) / f"{PAPER}_benchmark_{dataset}"
        write_text(stem.with_suffix(".md"), to_markdown(part, dataset))
        write_text(stem.with_suffix(".csv"), part.to_csv(index=False))
        written.append(stem.with_suffix(".md"))
    return written


def panels(points: pd.DataFrame) -> List[Tuple[str, pd.DataFrame]]:
    """(backbone, its points) in BACKBONES order, those with points only."""
    return [(b, points[points.backbone == b]) for b in BACKBONES if (points.backbone == b).any()]
