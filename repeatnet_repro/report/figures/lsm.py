"""Layer similarity matrices of soft-shared models (soft sharing Fig. 4, 6, 7, 8), with the folding result.

A panel per sharing group (a WRN stage), white = similarity 1 and black = 0 as in the paper. Rows are
runs (Fig. 4, 6, 7: the trained model, one row per seed) or the LSM snapshots saved during training
(Fig. 8: one row per epoch). Where the run was folded (artifacts/analysis/fold.json), the tied layer
pairs are outlined and the title gives the folded depth and the change in test error beside the paper's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from ..collect import fold_point
from .common import budget_title, completed, read_json, save


@dataclass(frozen=True)
class LsmFigure:
    """One soft sharing LSM figure: rows `by` run (final LSM) or by saved epoch; `fold_row` names the
    reported row holding the paper's error change after folding, printed with `paper_format`."""
    item: str
    what: str
    by: str = "run"
    fold_row: Optional[str] = None
    paper_format: str = "{:+.2f} pp"


LSM_FIGURES: Tuple[LsmFigure, ...] = (
    LsmFigure("fig4", "per-stage LSM of the trained SWRN, folding", fold_row="SWRN 28-10-4 (stage 2 folded)"),
    LsmFigure("fig6", "LSM of the trained SWRN, folded at similarity ~0.8", fold_row="SWRN 40-8-8 (folded)",
              paper_format="< {:.1f} pp"),
    LsmFigure("fig7", "LSMs of the trained SWRN, one row per seed"),
    LsmFigure("fig8", "LSMs during training, one row per saved epoch", by="epoch"),
)


def lsm_snapshots(run_dir: Path) -> List[Dict]:
    """The {"epoch", "banks"} LSMs saved during training (artifacts/lsm/epoch_<3-digit epoch>.json), by epoch."""
    found = [read_json(p) for p in (Path(run_dir) / "artifacts" / "lsm").glob("epoch_*.json")]
    return sorted(found, key=lambda s: s["epoch"])


def final_lsm(run_dir: Path) -> Optional[Dict]:
    """The trained model's LSMs: the `lsm` analysis, else the snapshot saved after the last epoch."""
    analysis = read_json(Path(run_dir) / "artifacts" / "analysis" / "lsm.json")
    if analysis is not None:
        return analysis
    snapshots = lsm_snapshots(run_dir)
    return snapshots[-1] if snapshots else None


def folded(run_dir: Path) -> Optional[Dict]:
    """The run's folding result (artifacts/analysis/fold.json) at the report's threshold (collect.fold_point)."""
    fold = read_json(Path(run_dir) / "artifacts" / "analysis" / "fold.json")
    return fold_point(fold.get("points", [])) if fold else None


def _paper_fold_text(decl: LsmFigure, reported: pd.DataFrame) -> str:
    hit = reported[(reported.paper == "softshare") & (reported.item == decl.item) & (reported.row == decl.fold_row)]
    return decl.paper_format.format(float(hit.value.iloc[0])) if len(hit) else "not reported"


def _panel_rows(decl: LsmFigure, runs: pd.DataFrame) -> List[Tuple[str, Dict, Optional[Dict]]]:
    """(row label, {"epoch", "banks"}, fold point or None) per row of panels."""
    rows = []
    several = len(runs) > 1
    for run in runs.sort_values("seed").to_dict("records"):
        seed = f"seed {int(run['seed'])}" if pd.notna(run.get("seed")) else str(run["row"])
        if decl.by == "epoch":
            for snap in lsm_snapshots(run["run_dir"]):
                rows.append((f"{seed}, epoch {snap['epoch']}" if several else f"epoch {snap['epoch']}", snap, None))
        else:
            lsm = final_lsm(run["run_dir"])
            if lsm is not None:
                rows.append((f"{seed} (epoch {lsm['epoch']})", lsm, folded(run["run_dir"])))
    return rows


def draw_lsm(ax, lsm: np.ndarray):
    """One group's panel: similarity 1 white, 0 black, layers numbered from 1; returns the image."""
    image = ax.imshow(lsm, vmin=0.0, vmax=1.0, cmap="gray", interpolation="nearest")
    ticks = np.arange(len(lsm))
    ax.set_xticks(ticks, [str(t + 1) for t in ticks], fontsize=6)
    ax.set_yticks(ticks, [str(t + 1) for t in ticks], fontsize=6)
    return image


def _outline_ties(ax, tied_to: List[int]) -> None:
    """Outline cells (j, r) and (r, j) of every layer j tied to an earlier layer r."""
    for j, r in enumerate(tied_to):
        if r != j:
            for cell in ((r, j), (j, r)):
                ax.add_patch(Rectangle((cell[0] - 0.5, cell[1] - 0.5), 1, 1, fill=False, edgecolor="red", lw=1.5))


def lsm_figure(decl: LsmFigure, runs: pd.DataFrame, reported: pd.DataFrame):
    """The figure of one declaration, or None when no run of the item has saved an LSM."""
    mine = completed(runs, "softshare", decl.item)
    rows = _panel_rows(decl, mine)
    if not rows:
        return None
    groups = list(dict.fromkeys(g for _, snap, _ in rows for g in snap["banks"]))
    fig, axes = plt.subplots(len(rows), len(groups), figsize=(2.6 * len(groups) + 1, 2.5 * len(rows) + 0.6),
                             squeeze=False)
    image = None
    fold_lines = []
    for (label, snap, point), ax_row in zip(rows, axes):
        fold_groups = (point or {}).get("groups", {})
        for ax, group in zip(ax_row, groups):
            bank = snap["banks"].get(group)
            if bank is None:
                ax.axis("off")
                continue
            lsm = np.asarray(bank["lsm"], dtype=float)
            image = draw_lsm(ax, lsm)
            title = group
            if group in fold_groups:
                _outline_ties(ax, fold_groups[group]["tied_to"])
                title += f": {len(lsm)} → {fold_groups[group]['distinct_layers']} layers"
            ax.set_title(title, fontsize=8)
        ax_row[0].set_ylabel(label, fontsize=8)
        if point is not None:
            fold_lines.append(
                f"{label}: folded at S ≥ {point['threshold']:g}: {point['layers']} -> {point['distinct_layers']} "
                f"shared layers, Δerror = {point['delta_error']:+.2f} pp (paper: {_paper_fold_text(decl, reported)})")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8 / len(rows) ** 0.5, label="layer similarity $S_{ij}$")
    head = f"softshare/{decl.item}: {decl.what} — {budget_title(mine)}"
    fig.suptitle("\n".join([head] + fold_lines), y=0.93, va="bottom", fontsize=9)
    return fig


def lsm_plots(runs: pd.DataFrame, reported: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Every declared LSM figure whose runs have saved LSMs."""
    written = []
    for decl in LSM_FIGURES:
        fig = lsm_figure(decl, runs, reported)
        if fig is not None:
            written.append(save(fig, Path(out_dir) / f"softshare_{decl.item}_lsm"))
    return written
