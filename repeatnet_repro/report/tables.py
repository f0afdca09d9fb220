"""Paper tables rebuilt from run records, beside the numbers the papers report.

One mechanism for every table: an item (`<paper>/<item>`, e.g. softshare/table1) has rows (the
paper's row labels, which runs carry as their `row` tag) and columns named `<quantity>` or
`<quantity>@<dataset>` (e.g. `error@cifar10`, `params`). A run feeds the cell of its row and of every
column whose dataset is its own (or that names none). Reported values come from
results/paper/reported_*.csv; a cell nobody ran says "not run".
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pandas as pd

from ..engine.atomic import write_text

#: quantity -> how to read it off a run row (a flattened summary.json)
QUANTITIES = {
    "acc": lambda r: r.get("final_test_acc"),
    "error": lambda r: _sub100(r.get("final_test_acc")),
    "top1_error": lambda r: _sub100(r.get("final_test_acc")),
    "top5": lambda r: r.get("final_test_top5"),
    "top5_error": lambda r: _sub100(r.get("final_test_top5")),
    "f1": lambda r: r.get("final_test_f1"),
    "params": lambda r: r.get("params"),
    "params_conv": lambda r: r.get("params_conv"),
    "compression": lambda r: r.get("compression"),
    "macs": lambda r: r.get("macs"),
    "flops": lambda r: r.get("flops"),
    "gpu_days": lambda r: None,  # quoted competitors' training cost; never measured here
    "gain": lambda r: None,  # RepeatNet Table 3: derived across rows, not a per-run number
}
DEFAULT_COLUMNS = ["acc", "params"]


def _sub100(v: Optional[float]) -> Optional[float]:
    return None if v is None or pd.isna(v) else 100.0 - v


def load_reported(paper_dir: Path) -> pd.DataFrame:
    """All numbers the papers report (results/paper/reported_*.csv), one per row."""
    frames = [pd.read_csv(p, dtype={"row": str}) for p in sorted(Path(paper_dir).glob("reported_*.csv"))]
    cols = ["paper", "item", "row", "column", "value", "unit", "quoted", "note"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _split(column: str) -> Tuple[str, Optional[str]]:
    quantity, _, dataset = column.partition("@")
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown table column '{column}'; quantities: {sorted(QUANTITIES)}")
    return quantity, dataset or None


def build_table(paper: str, item: str, reported: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Long form: one line per (row, column) with paper value, mean, std, n, budget and difference."""
    rep = reported[(reported.paper == paper) & (reported.item == item)]
    mine = runs[(runs.paper == paper) & (runs.item == item) & (runs.status == "completed")]
    rows: List[str] = list(dict.fromkeys(list(rep.row) + sorted(set(mine.row.dropna()) - set(rep.row))))
    columns: List[str] = list(dict.fromkeys(rep.column)) or DEFAULT_COLUMNS
    lines = []
    for row in rows:
        for column in columns:
            quantity, dataset = _split(column)
            hit = rep[(rep.row == row) & (rep.column == column)]
            paper_value = float(hit.value.iloc[0]) if len(hit) else None
            runs_here = mine[mine.row == row]
            if dataset:
                runs_here = runs_here[runs_here.dataset == dataset]
            values = pd.Series([QUANTITIES[quantity](r) for r in runs_here.to_dict("records")], dtype=float).dropna()
            mean = values.mean() if len(values) else None
            lines.append({
                "paper": paper, "item": item, "row": row, "column": column, "paper_value": paper_value,
                "mean": mean, "std": values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else None),
                "n": len(values), "budget": _budgets(runs_here),
                "diff": (mean - paper_value) if mean is not None and paper_value is not None else None,
            })
    return pd.DataFrame(lines)


def _budgets(runs: pd.DataFrame) -> Optional[str]:
    """The budgets the runs ran at, with their epochs: e.g. 'short 30ep'."""
    labels = {f"{b} {int(e)}ep" if pd.notna(e) else str(b)
              for b, e in zip(runs.budget, runs.epochs) if pd.notna(b)}
    return ",".join(sorted(labels)) or None


def _fmt(v: Optional[float]) -> str:
    if v is None or pd.isna(v):
        return "—"
    if abs(v) >= 1e4:
        return f"{v / 1e6:.2f}M" if abs(v) >= 1e6 else f"{v / 1e3:.1f}K"
    return f"{v:.2f}"


def cell_text(line: Dict) -> str:
    if not line["n"]:
        return "not run"
    spread = f" ± {_fmt(line['std'])}" if line["n"] > 1 else ""
    return f"{_fmt(line['mean'])}{spread} (n={line['n']}, {line['budget']})"


def to_markdown(long: pd.DataFrame, title: str) -> str:
    """Wide Markdown: per column a 'paper' and a 'reproduced' cell."""
    wide = []
    for row, part in long.groupby("row", sort=False):
        entry = {"row": row}
        for line in part.to_dict("records"):
            entry[f"{line['column']} paper"] = _fmt(line["paper_value"]) if line["paper_value"] is not None \
                else "not reported"
            entry[f"{line['column']} reproduced"] = cell_text(line)
        wide.append(entry)
    body = pd.DataFrame(wide).to_markdown(index=False) if wide else "(no rows)"
    return f"# {title}\n\n{body}\n\nreproduced = mean ± std over runs (n runs, budget); paper = as reported.\n"


def to_latex(long: pd.DataFrame) -> str:
    frame = long[["row", "column", "paper_value", "mean", "std", "n", "budget", "diff"]]
    return frame.to_latex(index=False, float_format="%.2f", na_rep="--")


def items(reported: pd.DataFrame, runs: pd.DataFrame) -> List[Tuple[str, str]]:
    """Every (paper, item) that is reported or has runs."""
    pairs = set(zip(reported.paper, reported.item)) | set(zip(runs.paper.dropna(), runs.item.dropna()))
    return sorted(pairs)


def render_tables(reported: pd.DataFrame, runs: pd.DataFrame, out_dir: Path) -> List[Path]:
    """Write <paper>_<item>.{md,csv,tex} for every item; returns the Markdown paths."""
    written = []
    for paper, item in items(reported, runs):
        long = build_table(paper, item, reported, runs)
        stem = Path(out_dir) / f"{paper}_{item}"
        write_text(stem.with_suffix(".md"), to_markdown(long, f"{paper}/{item}"))
        write_text(stem.with_suffix(".csv"), long.to_csv(index=False))
        write_text(stem.with_suffix(".tex"), to_latex(long))
        written.append(stem.with_suffix(".md"))
    return written
