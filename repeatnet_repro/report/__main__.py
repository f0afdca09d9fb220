"""`python -m repeatnet_repro.report` (also `rr-report`): the papers' tables and figures with an index of
every experiment (`tables`, `figures`, `report` = the index, `all`), or any runs grouped by config keys
(`compare --by KEY,...`).

The output follows the runs: --out defaults to <--runs>/report (with --source wandb to
<--runs>/wandb/<entity>/<project>/report), so the committed results/ is written only when asked for with
`--out results`, which `make results` does from the curated runs (results/runs/curated).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .benchmark import render_benchmark_tables
from .collect import load_metrics, load_runs
from .compare import CompareError, render_compare
from .figures import render_figures
from .index import write_index
from .tables import Tables, load_reported, render_tables

ROOT = Path(__file__).resolve().parents[2]


def fail(message: str) -> NoReturn:
    """A user error: one line on stderr, exit status 2 (argparse's own convention)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def shown(path: Path) -> str:
    """A path as the index and the messages name it: relative to the repository when inside it."""
    where = path.resolve()
    return str(where.relative_to(ROOT) if where.is_relative_to(ROOT) else where)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs", type=Path, default=ROOT / "results" / "runs",
                        help="the folder of run records (searched recursively for summary.json)")
    common.add_argument("--out", type=Path, help="where to write (default: <runs>/report)")
    top = argparse.ArgumentParser(prog="python -m repeatnet_repro.report", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="what", required=True, metavar="{tables,figures,report,all,compare}")
    for what, summary in (("tables", "<paper>_<item>.{md,csv,tex} under OUT/tables"),
                          ("figures", "the papers' figures under OUT/figures (PNG and PDF)"),
                          ("report", "the index OUT/README.md: every experiment's status and files"),
                          ("all", "tables, figures and the index")):
        sub = commands.add_parser(what, parents=[common], help=summary, description=summary)
        sub.add_argument("--source", choices=["local", "wandb"], default="local",
                         help="local: the run records under --runs; wandb: the runs of --entity/--project")
        sub.add_argument("--entity", help="W&B entity (with --source wandb)")
        sub.add_argument("--project", help="W&B project (with --source wandb)")
        sub.add_argument("--paper", type=Path, default=ROOT / "results" / "paper", help="the reported numbers")
        sub.add_argument("--conf", type=Path, default=ROOT / "conf", help="the config tree (experiment presets)")
    compare = commands.add_parser(
        "compare", parents=[common], help="runs grouped by config keys: OUT/tables/by_<keys>.{md,csv,tex} and "
        "OUT/figures/by_<keys>_curves.{png,pdf}", description="Any runs (tagged with a paper preset or not) "
        "grouped by dotted config keys read from each run's config.yaml: mean ± std and n of the final and best "
        "test accuracy / F1 and of the parameter count, and the mean learning curve of every group.")
    compare.add_argument("--by", required=True, help="comma-separated dotted config keys, e.g. sharing.name,model.width")
    return top


def main() -> None:
    args = parser().parse_args()
    if args.what != "compare" and args.source == "wandb":
        if not (args.entity and args.project):
            fail("--source wandb needs --entity E and --project P (the W&B project the runs logged to)")
        from .wandb_source import WandbSourceError, load_wandb

        try:
            runs, metrics = load_wandb(args.entity, args.project)
        except WandbSourceError as err:
            fail(str(err))
        source = f"W&B project {args.entity}/{args.project}"
        out = args.out or args.runs / "wandb" / args.entity / args.project / "report"
    else:
        if not args.runs.is_dir():
            fail(f"--runs {args.runs} is not a folder (run something first, e.g. `make demo`)")
        runs, metrics = load_runs(args.runs), load_metrics(args.runs)
        source = f"run records under {shown(args.runs)}"
        out = args.out or args.runs / "report"
    print(f"{len(runs)} runs from {source}; writing under {shown(out)}")
    if args.what == "compare":
        keys = list(dict.fromkeys(k.strip() for k in args.by.split(",") if k.strip()))
        if not keys:
            fail("--by needs at least one dotted config key, e.g. --by sharing.name,seed")
        try:
            table, figure = render_compare(runs, metrics, keys, out, source)
        except CompareError as err:
            fail(str(err))
        print(f"table: {table}\nfigure: {figure}")
        return
    reported = load_reported(args.paper)
    cache: Tables = {}  # each table is built once, for its files and for the index
    if args.what in ("tables", "all"):
        for path in [*render_tables(reported, runs, out / "tables", cache),
                     *render_benchmark_tables(runs, metrics, out / "tables")]:
            print(f"table: {path}")
    if args.what in ("figures", "all"):
        for path in render_figures(runs, metrics, reported, out / "figures"):
            print(f"figure: {path}")
    if args.what in ("report", "all"):
        print(f"index: {write_index(out / 'README.md', reported, runs, args.conf, source, cache)}")


if __name__ == "__main__":
    main()
