"""results/README.md: every experiment of EXPERIMENTS.md section 4 with its files, its status and where
our numbers stand against the papers' (the largest deviations first)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pandas as pd

from ..engine.atomic import write_text
from .tables import Tables, budget_label, budgets_of, cached_table, fmt

PAPERS = ("repeatnet", "shardnet", "softshare", "compare")  # compare: the cross-scheme benchmark, no paper's
#: units of the cells ranked as deviations: accuracy-like numbers in points (counts are checked by the tests)
RANKED_UNITS = ("%", "pp")
#: where each kind of output lives; only results/runs/curated and what `make results` builds from it are committed
LAYOUT = """\
| path | what | in git |
|---|---|---|
| `results/paper/` | the numbers the papers report (`reported_*.csv`) and count (`counts_*.csv`) | yes |
| `results/tables/`, `results/figures/`, `results/README.md` | the report over the curated runs, written only by `make results` (`python -m repeatnet_repro.report all --runs results/runs/curated --out results`) | yes |
| `results/runs/curated/<study>/` | the run records behind the committed numbers, each study with a README (command, data, budget) | yes |
| `results/runs/demo/` | `make demo`'s runs; their report in `results/runs/demo/report/` | no |
| `results/runs/<paper>/<item>/<budget>/<job>/` | a preset's sweep (`make sweep` / `make paper-*`, `-m experiment=...`) at `BUDGET=smoke\\|short\\|paper`, one folder per sweep; `make sweep`'s report beside its jobs, `make paper-*`'s in `results/runs/<paper>/report/` | no |
| `results/runs/multirun/<sweep>/<job>/` | a sweep of one's own (`-m` without a preset; `<sweep>`: `paths.sweep`, default the budget) | no |
| `<runs>/report/` | where `python -m repeatnet_repro.report` writes unless `--out` says otherwise (`make report` / `tables` / `figures`: `results/runs/report/`) | no |

`make clean-runs` deletes everything under results/runs except curated/."""


def experiments(conf_dir: Path) -> List[Tuple[str, str, str]]:
    """(paper, item, description) of every preset conf/experiment/<paper>/<item>.yaml; the description
    is the first sentence of the preset's header comment."""
    found = []
    for paper in PAPERS:
        for path in sorted(Path(conf_dir, "experiment", paper).glob("*.yaml")):
            found.append((paper, path.stem, _first_sentence(path.read_text())))
    return found


def _first_sentence(yaml_text: str) -> str:
    """The header comment up to its first full stop at a line end (Markdown-safe)."""
    words = []
    for line in yaml_text.splitlines():
        if not line.startswith("#") or "@package" in line:
            continue
        words.append(line[1:].strip())
        if words[-1].endswith("."):
            break
    return " ".join(words).replace("|", "\\|")


def status(paper: str, item: str, long: pd.DataFrame, runs: pd.DataFrame) -> str:
    """'not run', 'partial: k of m rows at ...' or 'reproduced at budget X (n runs)': a row counts as run when
    any of its cells has a number of ours (derived cells included); quoted competitors' rows count only if run."""
    mine = runs[(runs.paper == paper) & (runs.item == item)]
    done = mine[mine.status == "completed"]
    others = mine.status[mine.status != "completed"].value_counts()
    unfinished = "".join(f", {n} {s}" for s, n in others.items())
    if done.empty:
        return f"not run{f' ({unfinished[2:]})' if unfinished else ''}"
    own = long[~long.quoted.astype(bool)]
    ran = set(long.row[long.n > 0])  # a row whose printed value the paper quotes may still be one we train
    rows = set(own.row) | ran
    at = f"budget {budgets_of(done)} ({len(done)} runs{unfinished}{_protocol_changed(mine)})"
    return f"reproduced at {at}" if ran >= rows else f"partial: {len(ran)} of {len(rows)} rows at {at}"


def _protocol_changed(runs: pd.DataFrame) -> str:
    """', k protocol changed at epoch N' for the runs resumed under a changed protocol (empty when none)."""
    epochs = runs["protocol_changed_epoch"].dropna() if "protocol_changed_epoch" in runs else pd.Series(dtype=int)
    return f", {len(epochs)} protocol changed at epoch {', '.join(str(int(e)) for e in sorted(set(epochs)))}" \
        if len(epochs) else ""


def _protocol_section(runs: pd.DataFrame) -> List[str]:
    """One line per run resumed under a changed protocol (trainer.allow_protocol_change), none when there is none."""
    changed = runs[runs.protocol_changed_epoch.notna()] if "protocol_changed_epoch" in runs else runs.iloc[:0]
    if changed.empty:
        return []
    lines = [f"- `{r.run_dir}`: protocol changed at epoch {int(r.protocol_changed_epoch)} ("
             + ", ".join(f"{k}: {v[0]} -> {v[1]}" for k, v in r.protocol_changed_keys.items()) + ")"
             for r in changed.itertuples()]
    return ["## Runs resumed under a changed protocol", "", "Each went on under keys the code gained after it"
            " began, at values that change what it did (`trainer.allow_protocol_change=true`); its epochs before"
            " the one named ran under the old protocol.", "", *lines, ""]


def _links(paper: str, item: str, out_dir: Path, index: Path) -> str:
    stem = f"{paper}_{item}"
    files = [p for sub in ("tables", "figures") for p in sorted((out_dir / sub).glob(f"{stem}*"))
             if p.name[len(stem)] in "._" and p.suffix in (".md", ".png")]
    return ", ".join(f"[{p.name}]({Path(os.path.relpath(p, index.parent)).as_posix()})" for p in files) or "—"


def deviations(tables: List[pd.DataFrame], top: int = 10) -> pd.DataFrame:
    """The `top` cells (in points: accuracies, errors, gains) furthest from the paper's value."""
    long = pd.concat([t for t in tables if len(t)], ignore_index=True) if any(len(t) for t in tables) else None
    if long is None:
        return pd.DataFrame()
    cells = long[long.unit.isin(RANKED_UNITS) & long["diff"].notna()]
    return cells.assign(size=cells["diff"].abs()).sort_values("size", ascending=False).head(top)


#: the verdict rule of the at-a-glance table, stated where the table is
VERDICT_RULE = (
    "Verdicts: a cell is *within noise* when |ours - paper| <= max(1 point, 2 x our std); otherwise *not resolved"
    " at this budget* when it trained fewer epochs than the paper, else *contradicts*. An item's *ordering* line"
    " compares the order of its rows by our means with the order of the paper's values (rows with both numbers,"
    " per column): *ordering reproduced* or *ordering differs*.")


def paper_epochs(conf_dir: Path, paper: str, item: str) -> Optional[int]:
    """The epochs of a preset's protocol (its trainer.epochs), when it is a number."""
    import yaml

    path = Path(conf_dir) / "experiment" / paper / f"{item}.yaml"
    epochs = ((yaml.safe_load(path.read_text()) or {}).get("trainer") or {}).get("epochs") if path.exists() else None
    return epochs if isinstance(epochs, int) else None


def _trained_epochs(budget: str) -> Optional[int]:
    found = [int(part[:-2]) for part in str(budget).replace(",", " ").split() if part.endswith("ep") and
             part[:-2].isdigit()]
    return max(found) if found else None


def verdict(line: Dict, epochs_of_paper: Optional[int]) -> str:
    tolerance = max(1.0, 2 * line["std"] if line["n"] > 1 and pd.notna(line["std"]) else 0.0)
    if abs(line["diff"]) <= tolerance:
        return "within noise"
    trained = _trained_epochs(line["budget"])
    if epochs_of_paper is None or trained is None or trained < epochs_of_paper:
        return "not resolved at this budget"
    return "contradicts"


def at_a_glance(tables: List[pd.DataFrame], conf_dir: Path) -> str:
    """One line per cell of ours beside a paper's number (accuracies, errors, gains) and one ordering line per
    item and column with two rows or more: what holds, by VERDICT_RULE."""
    entries = []
    for long in tables:
        cells = long[long.unit.isin(RANKED_UNITS) & long["diff"].notna() & ~long.quoted.astype(bool)] \
            if len(long) else long
        if not len(cells):
            ran = long[long.n > 0] if len(long) else long
            if len(ran):  # runs of ours, but no printed number beside them: a figure, or our own benchmark
                entries.append({"experiment": f"{ran.paper.iloc[0]}/{ran.item.iloc[0]}", "row": "", "column": "",
                                "budget": ", ".join(sorted(set(ran.budget.dropna()))), "ours": "see its table",
                                "paper": "", "verdict": "no printed number to compare"})
            continue
        paper, item = cells.paper.iloc[0], cells.item.iloc[0]
        epochs = paper_epochs(conf_dir, paper, item)
        of = f" of {epochs}ep" if epochs else ""
        for c in cells.to_dict("records"):
            entries.append({"experiment": f"{paper}/{item}", "row": c["row"], "column": c["column"],
                            "budget": f"{c['budget']}{of}",
                            "ours": fmt(c["mean"]) + (f" ± {fmt(c['std'])}" if c["n"] > 1 else "") + f" (n={c['n']})",
                            "paper": fmt(c["paper_value"]), "verdict": verdict(c, epochs)})
        for column, part in cells.groupby("column", sort=False):
            if len(part) > 1:
                same = list(part.sort_values("mean").row) == list(part.sort_values("paper_value").row)
                entries.append({"experiment": f"{paper}/{item}", "row": f"(order of {len(part)} rows)",
                                "column": column, "budget": "", "ours": "", "paper": "",
                                "verdict": "ordering reproduced" if same else "ordering differs"})
    if not entries:
        return "(no cell of ours beside a paper's number yet)"
    return pd.DataFrame(entries).to_markdown(index=False, disable_numparse=True) + "\n\n" + VERDICT_RULE


def _deviation_table(worst: pd.DataFrame) -> str:
    if worst.empty:
        return "(no cell with both numbers yet)"
    return pd.DataFrame([{
        "experiment": f"{c['paper']}/{c['item']}", "row": c["row"], "column": c["column"],
        "paper": fmt(c["paper_value"]),
        "ours": fmt(c["mean"]) + (f" ± {fmt(c['std'])}" if c["n"] > 1 and pd.notna(c["std"]) else ""),
        "diff": f"{c['diff']:+.2f}", "n": c["n"], "budget": c["budget"],
    } for c in worst.to_dict("records")]).to_markdown(index=False, disable_numparse=True)


def _sources(runs: pd.DataFrame, source: str) -> str:
    def counts(col: str) -> str:
        values = runs[col].dropna().astype(str) if col in runs else pd.Series(dtype=str)
        return ", ".join(f"{v} ({n})" for v, n in values.value_counts().items()) or "—"

    budgets = pd.Series([budget_label(b, e) for b, e in zip(runs.budget, runs.epochs) if pd.notna(b)],
                        dtype=str).value_counts()
    return "\n".join([
        f"- source: {source}",
        f"- run records: {len(runs)} (status: {counts('status')})",
        f"- budgets (runs): {', '.join(f'{b} ({n})' for b, n in budgets.items()) or '—'}",
        f"- devices (runs): {counts('device')}",
        f"- code versions: {counts('git_commit')}",
    ])


def write_index(path: Path, reported: pd.DataFrame, runs: pd.DataFrame, conf_dir: Path, source: str,
                cache: Optional[Tables] = None) -> Path:
    """Write the index of every experiment (atomically) to `path`, linking the files beside it."""
    path = Path(path)
    cache = {} if cache is None else cache
    lines: List[Dict[str, str]] = []
    tables = []
    found = experiments(conf_dir)
    for paper, item, description in found:
        long = cached_table(paper, item, reported, runs, cache)
        tables.append(long)
        lines.append({"experiment": f"{paper}/{item}", "what": description,
                      "status": status(paper, item, long, runs), "files": _links(paper, item, path.parent, path)})
    listed = {(paper, item) for paper, item, _ in found}
    other = runs[[(p, i) not in listed for p, i in zip(runs.paper, runs.item)]]
    others = ", ".join(f"{p}/{i} ({n})" for (p, i), n in other.groupby(["paper", "item"]).size().items()) or "none"
    untagged = int(runs.paper.isna().sum())
    worst = deviations(tables)
    text = "\n".join([
        "# Results: every table and figure of the three papers",
        "",
        "Written by `python -m repeatnet_repro.report all` from the run records named below; do not edit"
        " (`make results` writes the committed results/ from results/runs/curated only). Tables: paper value"
        " beside our mean ± std (n runs, budget); derived cells (gain %, folding) are computed from our own"
        " means.",
        "",
        "## Reproduced at a glance",
        "",
        at_a_glance(tables, conf_dir),
        "",
        "## Where the numbers come from",
        "",
        _sources(runs, source),
        "",
        f"## Experiments ({len(lines)})",
        "",
        pd.DataFrame(lines).to_markdown(index=False),
        "",
        f"Run records of other experiments (runs): {others}."
        + (f" Runs tagged with no experiment: {untagged} (`python -m repeatnet_repro.report compare --by"
           " KEY,...` groups them by config keys)." if untagged else ""),
        "",
        *_protocol_section(runs),
        "## Layout of results/",
        "",
        LAYOUT,
        "",
        f"## Largest deviations from the papers (top {len(worst)}, accuracies/errors/gains in points)",
        "",
        _deviation_table(worst),
        "",
    ])
    write_text(path, text)
    return path
