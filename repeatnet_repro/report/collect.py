"""Run records -> pandas: one row per run (summary.json) and one row per run and epoch (metrics.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import pandas as pd

SUMMARY_COLUMNS = ["run_dir", "status", "paper", "item", "row", "model", "sharing", "dataset", "seed",
                   "budget", "epochs", "params", "params_conv", "macs", "flops", "wall_time_s"]


def _flatten(summary: dict, run_dir: Path) -> dict:
    row = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    row.update({k: summary.get("tags", {}).get(k) for k in ("paper", "item", "row")})
    budget = summary.get("budget") or {}
    row["budget"] = budget.get("name") if isinstance(budget, dict) else budget
    row["epochs"] = budget.get("epochs") if isinstance(budget, dict) else None
    for prefix in ("final", "best"):
        for k, v in (summary.get(prefix) or {}).items():
            row[f"{prefix}_{k}"] = v
    row["run_dir"] = str(run_dir)
    return row


def load_runs(root: Union[str, Path]) -> pd.DataFrame:
    """Every summary.json under `root` (recursively); unreadable ones are skipped with a warning row."""
    rows = []
    for path in sorted(Path(root).rglob("summary.json")):
        try:
            rows.append(_flatten(json.loads(path.read_text()), path.parent))
        except (OSError, json.JSONDecodeError) as err:
            rows.append({"run_dir": str(path.parent), "status": f"unreadable: {err}"})
    frame = pd.DataFrame(rows)
    for col in SUMMARY_COLUMNS:
        if col not in frame:
            frame[col] = pd.Series(dtype="object")
    return frame


def load_metrics(root: Union[str, Path]) -> pd.DataFrame:
    """Every metrics.jsonl line under `root`, tagged with its run dir."""
    rows = []
    for path in sorted(Path(root).rglob("metrics.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append({"run_dir": str(path.parent), **json.loads(line)})
    return pd.DataFrame(rows, columns=None if rows else ["run_dir", "epoch"])
