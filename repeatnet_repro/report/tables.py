"""Paper tables rebuilt from run records, beside the numbers the papers report.

One mechanism for every table: an item (`<paper>/<item>`, e.g. softshare/table1) has rows (the
paper's row labels, which runs carry as their `row` tag) and columns named `<quantity>` or
`<quantity>@<dataset>` (e.g. `error@cifar10`, `params`). A run feeds the cell of its row and of every
column whose dataset is its own (or that names none). Reported values come from
results/paper/reported_*.csv; a cell nobody ran says "not run", a cell whose runs lack the number "—".
Quantities the papers compute from other rows (RepeatNet's gain %, the change in error after folding)
are declared once in DERIVED and computed from our own means, never copied from the paper.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pandas as pd

from ..engine.atomic import write_text

#: quantity -> how to read it off a run row (a flattened summary.json); None where the run has no such number.
#: Accuracies are the `reported` row: the final epoch, or the best-on-validation epoch (trainer.select_on).
QUANTITIES: Dict[str, Callable[[Dict], Optional[float]]] = {
    "acc": lambda r: r.get("reported_test_acc"),
    "error": lambda r: _sub100(r.get("reported_test_acc")),
    "top1_error": lambda r: _sub100(r.get("reported_test_acc")),
    "top5": lambda r: r.get("reported_test_top5"),
    "top5_error": lambda r: _sub100(r.get("reported_test_top5")),
    "f1": lambda r: r.get("reported_test_f1"),
    "params": lambda r: r.get("params"),
    "params_conv": lambda r: r.get("params_conv"),
    "compression": lambda r: r.get("compression"),  # |W_conv|(reference) / |W_conv|, counted by the run
    "param_fraction": lambda r: _ratio(r.get("params"), r.get("reference_params")),  # RepeatNet Fig. 2
    "macs": lambda r: r.get("macs"),
    "flops": lambda r: r.get("flops"),
    "fold_delta_error": lambda r: r.get("fold_delta_error"),  # at collect.FOLD_THRESHOLD
    "gpu_days": lambda r: None,  # quoted competitors' training cost; never measured here
    "gain": lambda r: None,  # RepeatNet Table 3: derived across rows (DERIVED), not a per-run number
}
DEFAULT_COLUMNS = ["acc", "params"]
#: a long table's columns (also when it has no line: an item whose only runs failed)
LONG_COLUMNS = ["paper", "item", "row", "column", "unit", "quoted", "paper_value", "mean", "std", "n", "runs",
                "budget", "note", "diff"]


def _sub100(v: Optional[float]) -> Optional[float]:
    return None if v is None or pd.isna(v) else 100.0 - v


def _ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    return None if num is None or den is None or pd.isna(num) or pd.isna(den) else num / den


@dataclass(frozen=True)
class Derived:
    """A cell computed from the means of other cells of the same item: `inputs(row)` names them as
    {argument: (row, column)} (None: the formula does not apply to this row), `formula` combines them.
    An input on a quoted row (a competitor we never run) is the paper's number."""
    inputs: Callable[[str], Optional[Dict[str, Tuple[str, str]]]]
    formula: Callable[..., float]
    note: str


def _gain_inputs(row: str) -> Optional[Dict[str, Tuple[str, str]]]:
    if not row.startswith("RepeatNet C"):
        return None
    return {"repeat": (row, "acc@rotmnist"), "vanilla": ("Vanilla CNN", "acc@rotmnist"),
            "equivariant": (row.replace("RepeatNet", "RE-CNN"), "acc@rotmnist")}


def _compression_inputs(reference: str, ours: Tuple[str, ...], versus: Dict[str, Tuple[str, str]]):
    """C of our rows relative to one reference row, and the 'A vs B' rows: |W_conv|(B) / |W_conv|(A)."""
    def inputs(row: str) -> Optional[Dict[str, Tuple[str, str]]]:
        if row in versus:
            return {"reference": (versus[row][1], "params_conv"), "ours": (versus[row][0], "params_conv")}
        return {"reference": (reference, "params_conv"), "ours": (row, "params_conv")} if row in ours else None
    return inputs


def _ratio_formula(reference: float, ours: float) -> float:
    return reference / ours


#: (paper, item, column) -> the cross-row derived cells of that column
DERIVED: Dict[Tuple[str, str, str], Derived] = {
    ("repeatnet", "table3", "gain"): Derived(
        _gain_inputs, lambda repeat, vanilla, equivariant: (repeat - vanilla) / (equivariant - vanilla) * 100,
        "gain % = (acc RepeatNet Cn - acc vanilla) / (acc RE-CNN Cn - acc vanilla) x 100"),
    ("shardnet", "table2b", "compression"): Derived(
        _compression_inputs("SWRN 50-2", ("SL-ResNet-50 (n=512)", "SL-ResNet-34 (n=512)"),
                            {"SL-ResNet-34 (n=512) vs ResNet-50": ("SL-ResNet-34 (n=512)", "ResNet-50")}),
        _ratio_formula, "C = |W_conv|(SWRN 50-2, quoted) / our |W_conv|; 'A vs B': |W_conv|(B) / |W_conv|(A)"),
    ("shardnet", "table8", "compression"): Derived(
        _compression_inputs("ResNet-34", ("ResNet*", "SL3-ResNet (n=128)"),
                            {"SL3-ResNet (n=128) vs ResNet*": ("SL3-ResNet (n=128)", "ResNet*")}),
        _ratio_formula, "C = |W_conv|(ResNet-34, quoted) / our |W_conv|; 'A vs B': |W_conv|(B) / |W_conv|(A)"),
    ("softshare", "fig4", "error@cifar10"): Derived(
        lambda row: {"delta": ("SWRN 28-10-4", "fold_delta_error@cifar10")}
        if row == "SWRN 28-10-4 (stage 2 folded)" else None,
        lambda delta: delta, "change in test error (pp) folded at similarity 0.8 (every stage; the paper folds stage 2)"),
    ("softshare", "fig6", "error@cifar10"): Derived(
        lambda row: {"delta": ("SWRN 40-8-8", "fold_delta_error@cifar10")}
        if row == "SWRN 40-8-8 (folded)" else None,
        lambda delta: delta, "change in test error (pp) folded at similarity 0.8 (Fig. 6 caption)"),
}


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


def reported_epoch(runs: pd.DataFrame) -> pd.Series:
    """Per run, the epoch its cell quotes: 'final' (the papers' texts) or 'best' (best on a held-out validation
    split, the soft-sharing authors' main.py: `selection=heldout`)."""
    column = runs["selection_reported"] if "selection_reported" in runs else pd.Series(index=runs.index, dtype=object)
    return column.fillna("final")


def largest_budget(runs: pd.DataFrame, epochs: str = "epochs") -> pd.DataFrame:
    """Per row (and data set), the runs that trained longest, and of those the papers' final-epoch protocol when
    runs of both protocols are there: a cell or a curve never averages a smoke run with a full one, nor a
    final-epoch number with a best-on-validation one."""
    if runs.empty:
        return runs
    trained = pd.to_numeric(runs[epochs], errors="coerce").fillna(-1)
    rank = 2 * trained + (reported_epoch(runs) == "final")
    longest = rank.groupby([runs["row"].fillna(""), runs["dataset"].fillna("")]).transform("max")
    return runs[rank == longest]


def _measured(runs: pd.DataFrame, row: str, column: str) -> Dict:
    """Mean, std and n of one (row, column) cell over the runs of that row (and of the column's data set)."""
    quantity, dataset = _split(column)
    here = runs[runs.row == row]
    if dataset:
        here = here[here.dataset == dataset]
    values = pd.Series([QUANTITIES[quantity](r) for r in here.to_dict("records")], dtype=float).dropna()
    return {"mean": values.mean() if len(values) else None,
            "std": values.std(ddof=1) if len(values) > 1 else (0.0 if len(values) else None),
            "n": len(values), "runs": len(here), "budget": budgets_of(here), "note": None}


def _apply(formula, values: Dict[str, float]) -> Optional[float]:
    """A derived value, or None where the formula is undefined (e.g. gain % when RE-CNN = vanilla)."""
    try:
        return formula(**values)
    except ZeroDivisionError:
        return None


def _derived(rule: Derived, inputs: Dict[str, Tuple[str, str]], rep: pd.DataFrame, runs: pd.DataFrame) -> Dict:
    """A derived cell: the formula of its inputs' means; n = the smallest n of our inputs; no std."""
    values, ours = {}, []
    for name, (row, column) in inputs.items():
        quoted = rep[(rep.row == row) & (rep.column == column) & (rep.quoted.astype(str).str.lower() == "true")]
        if len(quoted):
            values[name] = float(quoted.value.iloc[0])
        else:
            ours.append(_measured(runs, row, column))
            values[name] = ours[-1]["mean"]
    n = min((c["n"] for c in ours), default=0)
    budgets = sorted({b for c in ours if c["budget"] for b in c["budget"].split(",")})
    return {"mean": _apply(rule.formula, values) if n else None, "std": None, "n": n,
            "runs": min((c["runs"] for c in ours), default=0),
            "budget": "derived" + (f" ({','.join(budgets)})" if budgets else ""), "note": f"derived: {rule.note}"}


def build_table(paper: str, item: str, reported: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Long form: one line per (row, column) with paper value, mean, std, n, budget and difference.

    Cells named in DERIVED are computed from other rows' means; the rest from the runs of their row, each
    (row, data set) at the largest budget it ran at."""
    rep = reported[(reported.paper == paper) & (reported.item == item)]
    mine = largest_budget(runs[(runs.paper == paper) & (runs.item == item) & (runs.status == "completed")])
    rows: List[str] = list(dict.fromkeys(list(rep.row) + sorted(set(mine.row.dropna()) - set(rep.row))))
    columns: List[str] = list(dict.fromkeys(rep.column)) or DEFAULT_COLUMNS
    lines = []
    for row in rows:
        for column in columns:
            hit = rep[(rep.row == row) & (rep.column == column)]
            paper_value = float(hit.value.iloc[0]) if len(hit) else None
            rule = DERIVED.get((paper, item, column))
            inputs = rule.inputs(row) if rule else None
            cell = _derived(rule, inputs, rep, mine) if inputs else _measured(mine, row, column)
            lines.append({
                "paper": paper, "item": item, "row": row, "column": column,
                "unit": hit.unit.iloc[0] if len(hit) else None,
                "quoted": bool(len(hit) and str(hit.quoted.iloc[0]).lower() == "true"),
                "paper_value": paper_value, **cell,
                "diff": (cell["mean"] - paper_value) if cell["mean"] is not None and paper_value is not None
                else None,
            })
    return pd.DataFrame(lines, columns=LONG_COLUMNS)


def budget_label(name, epochs, reported: str = "final") -> str:
    """A budget with its epochs, and the epoch quoted when it is not the final one: e.g. 'short 30ep',
    'paper 200ep best-on-val'."""
    label = f"{name} {int(epochs)}ep" if pd.notna(epochs) else str(name)
    return label + (" best-on-val" if reported == "best" else "")


def budgets_of(runs: pd.DataFrame) -> Optional[str]:
    """The budgets the runs ran at, with their epochs (and protocol): e.g. 'short 30ep'."""
    labels = {budget_label(b, e, r) for b, e, r in zip(runs.budget, runs.epochs, reported_epoch(runs))
              if pd.notna(b)}
    return ",".join(sorted(labels)) or None


def fmt(v: Optional[float]) -> str:
    if v is None or pd.isna(v):
        return "—"
    if abs(v) >= 1e4:
        return f"{v / 1e6:.2f}M" if abs(v) >= 1e6 else f"{v / 1e3:.1f}K"
    return f"{v:.2f}"


def cell_text(line: Dict) -> str:
    if not line["n"]:
        if line.get("quoted"):
            return "quoted: the paper's number, from elsewhere"
        return f"— (none of {line['runs']} runs has it)" if line["runs"] else "not run"
    if str(line["budget"]).startswith("derived"):
        return f"{fmt(line['mean'])} ({line['budget']}, n={line['n']})"
    spread = f" ± {fmt(line['std'])}" if line["n"] > 1 else ""
    return f"{fmt(line['mean'])}{spread} (n={line['n']}, {line['budget']})"


def wide(long: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: one line per row and, per column, the paper's value beside ours (two header
    levels: column, then 'paper' | 'reproduced')."""
    entries = []
    for row, part in long.groupby("row", sort=False):
        entry = {("row", ""): row}
        for line in part.to_dict("records"):
            entry[line["column"], "paper"] = "not reported" if pd.isna(line["paper_value"]) \
                else fmt(line["paper_value"])
            entry[line["column"], "reproduced"] = cell_text(line)
        entries.append(entry)
    frame = pd.DataFrame(entries, columns=None if entries else [("row", "")])
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def to_markdown(long: pd.DataFrame, title: str) -> str:
    """Wide Markdown (column headers 'error@cifar10 paper', ...), then the derived cells' formulas."""
    frame = wide(long)
    flat = frame.set_axis([" ".join(filter(None, c)) for c in frame.columns], axis=1)
    body = flat.to_markdown(index=False) if len(flat) else "(no rows)"
    notes = sorted(set(long.note.dropna())) if "note" in long else []
    derived = "".join(f"\n- {n}" for n in notes)
    return (f"# {title}\n\n{body}\n\nreproduced = mean ± std over runs (n runs, budget); paper = as reported."
            f"{derived}\n")


def latex_table(frame: pd.DataFrame) -> str:
    """A booktabs tabular of `frame` (two header levels become \\multicolumn groups), every header and cell
    escaped for LaTeX; UTF-8 text (±, —) as LaTeX reads it by default."""
    return frame.astype(str).to_latex(index=False, escape=True, multicolumn_format="c",
                                      column_format="l" * len(frame.columns))


def to_latex(long: pd.DataFrame) -> str:
    """The Markdown table's layout as a booktabs tabular: rows x columns, paper value beside ours."""
    return latex_table(wide(long))


def items(reported: pd.DataFrame, runs: pd.DataFrame) -> List[Tuple[str, str]]:
    """Every (paper, item) that is reported or has runs."""
    pairs = set(zip(reported.paper, reported.item)) | set(zip(runs.paper.dropna(), runs.item.dropna()))
    return sorted(pairs)


Tables = Dict[Tuple[str, str], pd.DataFrame]


def cached_table(paper: str, item: str, reported: pd.DataFrame, runs: pd.DataFrame, cache: Tables) -> pd.DataFrame:
    """build_table, once per item for one report (the tables and the index read the same tables)."""
    if (paper, item) not in cache:
        cache[paper, item] = build_table(paper, item, reported, runs)
    return cache[paper, item]


def render_tables(reported: pd.DataFrame, runs: pd.DataFrame, out_dir: Path, cache: Optional[Tables] = None
                  ) -> List[Path]:
    """Write <paper>_<item>.{md,csv,tex} for every item; returns the Markdown paths."""
    written = []
    cache = {} if cache is None else cache
    for paper, item in items(reported, runs):
        long = cached_table(paper, item, reported, runs, cache)
        stem = Path(out_dir) / f"{paper}_{item}"
        write_text(stem.with_suffix(".md"), to_markdown(long, f"{paper}/{item}"))
        write_text(stem.with_suffix(".csv"), long.to_csv(index=False))
        write_text(stem.with_suffix(".tex"), to_latex(long))
        written.append(stem.with_suffix(".md"))
    return written
