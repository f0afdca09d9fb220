"""Any runs grouped by any config keys, for sweeps of one's own that no paper preset tags
(`python -m repeatnet_repro.report compare --by sharing.name,model.width`).

A run's group is its values of the dotted `--by` keys in its config.yaml. Per group: the number of runs,
their budget (a group keeps only its runs at the largest budget, as a paper table's cell does), mean and
std of the final and best test accuracy / F1 and of the parameter count; and a learning curve per group,
the mean over its runs of the test accuracy (F1 where there is no accuracy) per epoch.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import matplotlib.pyplot as plt
import pandas as pd
import yaml
from matplotlib.ticker import MaxNLocator

from ..engine.atomic import write_text
from .figures.common import budget_title, save
from .tables import budgets_of, fmt, latex_table

#: the per-run numbers a comparison shows, where any run of it has them
METRICS = {"final_test_acc": "final test acc", "best_test_acc": "best test acc", "final_test_f1": "final test F1",
           "best_test_f1": "best test F1", "params": "params"}


class CompareError(ValueError):
    """Run records that cannot be grouped as asked (reported as one line by the command line)."""


def _suggest(key: str, valid: Sequence[str], n: int = 5) -> str:
    """A few valid keys for a misspelt one: those under it (a section was named), else the closest."""
    under = [k for k in valid if k.startswith(f"{key}.")]
    return ", ".join(under[:n] or difflib.get_close_matches(key, valid, n=n, cutoff=0.5) or sorted(valid)[:n])


def _hashable(value):
    """A config value usable as a group key: lists (model.widths) as their JSON text."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def config_values(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Each run's value of every dotted key (columns = keys, index = the runs' index), from its config.yaml."""
    values: Dict = {}
    for index, run_dir in runs.run_dir.items():
        path = Path(run_dir) / "config.yaml"
        if not path.is_file():
            raise CompareError(f"{run_dir} has no config.yaml to read --by keys from")
        flat = pd.json_normalize(yaml.safe_load(path.read_text()) or {}, sep=".").iloc[0].to_dict()
        for key in keys:
            if key not in flat:
                raise CompareError(f"--by {key}: no such key in {path}; keys there include {_suggest(key, list(flat))}")
        values[index] = {key: _hashable(flat[key]) for key in keys}
    return pd.DataFrame.from_dict(values, orient="index", columns=list(keys))


def grouped_runs(runs: pd.DataFrame, keys: Sequence[str]) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """The completed runs, each group at the largest budget its runs ran at, and their --by values."""
    done = runs[runs.status == "completed"]
    if done.empty:
        raise CompareError("no completed run records to compare")
    values = config_values(done, keys)
    trained = pd.to_numeric(done.epochs, errors="coerce").fillna(-1)
    keep = trained == trained.groupby([values[k] for k in keys], dropna=False).transform("max")
    return done[keep], values[keep]


def groups(done: pd.DataFrame, values: pd.DataFrame) -> Iterator[Tuple[str, Dict, pd.DataFrame]]:
    """('sharing.name=soft, model.width=16', {key: value}, its runs) per group, in the order of the values."""
    for key, part in done.groupby([values[k] for k in values.columns], sort=True, dropna=False):
        named = dict(zip(values.columns, key))
        yield ", ".join(f"{k}={v}" for k, v in named.items()), named, part


def compare_table(done: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """One line per group: its --by values, n, budget, then <metric>_mean and <metric>_std."""
    metrics = [m for m in METRICS if m in done and done[m].notna().any()]
    return pd.DataFrame([{**named, "n": len(part), "budget": budgets_of(part),
                          **{f"{m}_{stat}": getattr(part[m].astype(float), stat)()
                             for m in metrics for stat in ("mean", "std")}}
                         for _, named, part in groups(done, values)])


def readable(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The table as it is read: 'mean ± std' per metric (a single run: its number)."""
    shown = table[[*keys, "n", "budget"]].copy()
    for metric, name in METRICS.items():
        if f"{metric}_mean" in table:
            shown[name] = [fmt(m) + (f" ± {fmt(s)}" if pd.notna(s) else "")
                           for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])]
    return shown


def curve_figure(done: pd.DataFrame, values: pd.DataFrame, metrics: pd.DataFrame):
    """Test accuracy (or F1) per epoch, one line per group: the mean over its runs."""
    mine = metrics[metrics.run_dir.isin(done.run_dir)]
    metric = "test_acc" if "test_acc" in mine and mine.test_acc.notna().any() else "test_f1"
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, _, part in groups(done, values):
        mean = mine[mine.run_dir.isin(part.run_dir)].groupby("epoch")[metric].mean()
        ax.plot(mean.index, mean.values, marker="o", ms=3, label=f"{label} (n={len(part)})")
    ax.set(xlabel="epoch", ylabel=f"{metric.replace('test_', 'test ')} (mean over runs)",
           title=f"by {', '.join(values.columns)} — {budget_title(done)}")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return fig


def render_compare(runs: pd.DataFrame, metrics: pd.DataFrame, keys: Sequence[str], out_dir: Path,
                   source: str) -> List[Path]:
    """tables/by_<keys>.{md,csv,tex} and figures/by_<keys>_curves.{png,pdf}; returns the .md and .png."""
    done, values = grouped_runs(runs, keys)
    table = compare_table(done, values)
    shown = readable(table, keys)
    stem = "by_" + "-".join(keys)  # keys hold dots: file names are stem + suffix, never with_suffix
    md = Path(out_dir) / "tables" / f"{stem}.md"
    write_text(md, f"# {source}, grouped by {', '.join(keys)}\n\n{shown.to_markdown(index=False)}\n\n"
               "mean ± std over the runs of each group (n runs, budget).\n")
    write_text(md.with_name(f"{stem}.csv"), table.to_csv(index=False))
    write_text(md.with_name(f"{stem}.tex"), latex_table(shown))
    return [md, save(curve_figure(done, values, metrics), Path(out_dir) / "figures" / f"{stem}_curves")]
