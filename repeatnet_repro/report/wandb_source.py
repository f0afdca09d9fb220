"""Run records read back from Weights & Biases (`--source wandb`), as the same frames as the local records.

What the W&B tracker (engine/tracking.py) stores per run: config = the resolved cfg, history = the
metrics.jsonl rows, summary = the summary.json scalars (plus W&B's last value of every history key).
The summary.json fields W&B does not hold are rebuilt the way training builds them: tags from
config.tags, budget from config.budget and the planned epochs, final = the last history row and best
= the best epoch (both only for completed runs, as in summary.json). Dict-valued summary fields
(`reference`, `analysis`, ...) are taken as they are when the tracker logged them.
"""
from __future__ import annotations

from functools import reduce
from typing import Any, Dict, List, Tuple

import pandas as pd

from .collect import flatten, metrics_frame, runs_frame

class WandbSourceError(RuntimeError):
    """W&B could not be read (not logged in, no such project, no network): one line for the user."""


def _plain(value: Any) -> Any:
    """W&B's summary (sub)dicts as plain dicts."""
    return {k: _plain(v) for k, v in value.items()} if hasattr(value, "items") else value


def _history(run: Any) -> List[Dict[str, Any]]:
    """The run's metrics.jsonl rows: W&B's own `_` keys and the keys a row did not log dropped."""
    rows = []
    for line in run.scan_history():  # every row (run.history samples)
        row = {k: v for k, v in line.items() if not k.startswith("_") and v is not None and not pd.isna(v)}
        if "epoch" in row:
            row["epoch"] = int(row["epoch"])
            rows.append(row)
    return sorted(rows, key=lambda r: r["epoch"])


def summary_of(run: Any, history: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The run's summary.json, from its W&B summary, config and history."""
    from omegaconf import OmegaConf

    from ..config import run_tags
    from ..engine.trainer import keep_best, planned_epochs

    logged = {k for row in history for k in row}
    summary = {k: v for k, v in _plain(run.summary).items() if not k.startswith("_") and k not in logged}
    cfg = OmegaConf.create(dict(run.config))
    summary.setdefault("tags", run_tags(cfg))
    summary.setdefault("budget", {**OmegaConf.to_container(cfg.budget), "epochs": planned_epochs(cfg)})
    if summary.get("status") == "completed" and history:
        selection = summary.get("selection") or {}
        # records before selection was recorded picked the best epoch on test; now none is kept without a split
        key = selection.get("best_on") if selection else ("test_f1" if "test_f1" in history[-1] else "test_acc")
        summary.setdefault("final", history[-1])
        if key:
            summary.setdefault("best", reduce(lambda best, row: keep_best(best, row, key), history, {}))
        summary.setdefault("reported", summary["best"] if selection.get("reported") == "best" else summary["final"])
    summary.setdefault("run_dir", run.url)
    return summary


def load_wandb(entity: str, project: str) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, metrics) of every run in `entity/project`, as load_runs / load_metrics give them,
    plus the runs' wandb_id and wandb_url."""
    import wandb

    try:
        fetched = list(wandb.Api().runs(f"{entity}/{project}"))
        records = [(run, _history(run)) for run in fetched]
    except Exception as err:  # wandb raises many types (UsageError, CommError, ValueError, HTTPError)
        first = str(err).splitlines()[0] if str(err) else ""
        raise WandbSourceError(f"--source wandb: cannot read runs of {entity}/{project} "
                               f"({type(err).__name__}: {first}); log in with `wandb login` (or set "
                               "WANDB_API_KEY) and check --entity/--project") from None
    rows, metrics = [], []
    for run, history in records:
        summary = summary_of(run, history)
        rows.append({**flatten(summary, summary["run_dir"]), "wandb_id": run.id, "wandb_url": run.url})
        metrics += [{"run_dir": summary["run_dir"], **line} for line in history]
    return runs_frame(rows), metrics_frame(metrics)
