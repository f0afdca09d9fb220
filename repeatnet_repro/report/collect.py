"""Run records -> pandas: one row per run (summary.json) and one row per run and epoch (metrics.jsonl).

The same two frames come from W&B (report/wandb_source.py); both go through `flatten`, `runs_frame`
and `metrics_frame`, so the tables cannot tell where a run was read from.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import pandas as pd

from ..engine.run_record import live_status

SUMMARY_COLUMNS = ["run_dir", "status", "paper", "item", "row", "model", "sharing", "dataset", "seed",
                   "budget", "epochs", "params", "params_conv", "macs", "flops", "wall_time_s"]


#: the similarity the report folds at: soft sharing Fig. 6 folds at ~0.8 (Fig. 4 names none)
FOLD_THRESHOLD = 0.8


def fold_point(points: List[Dict], threshold: float = FOLD_THRESHOLD) -> Optional[Dict]:
    """The folding analysis' point (summary.analysis.fold / fold.json) at the threshold closest to `threshold`."""
    return min(points, key=lambda p: abs(p["threshold"] - threshold)) if points else None


def flatten(summary: dict, run_dir: Union[str, Path]) -> dict:
    """One summary.json as one flat row: scalars as they are, tags/budget/final/best/reported/selection/match/
    protocol_changed/reference spread out, and the soft-sharing folding result at FOLD_THRESHOLD as fold_<field>."""
    row = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    row.update({k: (summary.get("tags") or {}).get(k) for k in ("paper", "item", "row")})
    budget = summary.get("budget") or {}
    row["budget"] = budget.get("name") if isinstance(budget, dict) else budget
    row["epochs"] = budget.get("epochs") if isinstance(budget, dict) else None
    for prefix in ("final", "best", "reported", "selection", "match", "protocol_changed"):
        for k, v in (summary.get(prefix) or {}).items():
            row[f"{prefix}_{k}"] = v
    if not summary.get("reported"):  # records written before the selection protocol: the final epoch
        row.update({f"reported_{k}": v for k, v in (summary.get("final") or {}).items()})
    for k in ("params", "params_conv"):
        if k in (summary.get("reference") or {}):
            row[f"reference_{k}"] = summary["reference"][k]
    point = fold_point(((summary.get("analysis") or {}).get("fold") or {}).get("points", []))
    if point:
        row.update({f"fold_{field}": point[field] for field in ("threshold", "delta_error", "layers", "distinct_layers")})
    row["run_dir"] = str(run_dir)
    return row


def runs_frame(rows: List[Dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in SUMMARY_COLUMNS:
        if col not in frame:
            frame[col] = pd.Series(dtype="object")
    return frame


def metrics_frame(rows: Iterable[Dict]) -> pd.DataFrame:
    rows = list(rows)
    return pd.DataFrame(rows, columns=None if rows else ["run_dir", "epoch"])


#: a study folder holding this file is a measurement (e.g. an ablation of our own choice), not the protocol of the
#: paper items its runs are tagged with: its runs fill no paper cell (the file says why)
MEASUREMENT = ".measurement"


def _measurement(path: Path, root: Path) -> bool:
    return any((folder / MEASUREMENT).exists() for folder in path.parents if folder == root or root in folder.parents)


def load_runs(root: Union[str, Path]) -> pd.DataFrame:
    """Every summary.json under `root` (recursively); unreadable ones are skipped with a warning row. A run
    whose writer died shows as `interrupted`, not as still running (run_record.live_status). Runs below a
    MEASUREMENT folder keep no paper/item/row tags."""
    rows = []
    root = Path(root)
    for path in sorted(root.rglob("summary.json")):
        try:
            summary = json.loads(path.read_text())
            summary["status"] = live_status(summary, path.parent)
            if _measurement(path.parent, root):
                summary["tags"] = {}
            rows.append(flatten(summary, path.parent))
        except (OSError, json.JSONDecodeError) as err:
            rows.append({"run_dir": str(path.parent), "status": f"unreadable: {err}"})
    return runs_frame(rows)


def load_metrics(root: Union[str, Path]) -> pd.DataFrame:
    """Every metrics.jsonl line under `root`, tagged with its run dir."""
    return metrics_frame({"run_dir": str(path.parent), **json.loads(line)}
                         for path in sorted(Path(root).rglob("metrics.jsonl"))
                         for line in path.read_text().splitlines() if line.strip())
