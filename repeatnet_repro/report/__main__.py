"""`python -m repeatnet_repro.report tables|figures|report|all [--runs DIR | --source wandb --entity E
--project P] [--paper DIR] [--out DIR]`: paper tables, figures and the results/README.md index."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .collect import load_metrics, load_runs
from .figures import render_figures
from .index import write_index
from .tables import Tables, load_reported, render_tables

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m repeatnet_repro.report", description=__doc__)
    parser.add_argument("what", choices=["tables", "figures", "report", "all"],
                        help="report = the index results/README.md; all = tables, figures and the index")
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs")
    parser.add_argument("--source", choices=["local", "wandb"], default="local",
                        help="local: the run records under --runs; wandb: the runs of --entity/--project")
    parser.add_argument("--entity", help="W&B entity (with --source wandb)")
    parser.add_argument("--project", help="W&B project (with --source wandb)")
    parser.add_argument("--paper", type=Path, default=ROOT / "results" / "paper")
    parser.add_argument("--conf", type=Path, default=ROOT / "conf", help="the config tree (experiment presets)")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    if args.source == "wandb":
        if not (args.entity and args.project):
            parser.error("--source wandb needs --entity E and --project P (the W&B project the runs logged to)")
        from .wandb_source import WandbSourceError, load_wandb

        try:
            runs, metrics = load_wandb(args.entity, args.project)
        except WandbSourceError as err:
            sys.exit(str(err))
        source = f"W&B project {args.entity}/{args.project}"
    else:
        if not args.runs.is_dir():
            parser.error(f"--runs {args.runs} is not a folder (run something first, e.g. `make demo`)")
        runs, metrics = load_runs(args.runs), load_metrics(args.runs)
        where = args.runs.resolve()
        source = f"run records under {where.relative_to(ROOT) if where.is_relative_to(ROOT) else where}"
    print(f"{len(runs)} runs from {source}")
    reported = load_reported(args.paper)
    cache: Tables = {}  # each table is built once, for its files and for the index
    if args.what in ("tables", "all"):
        for path in render_tables(reported, runs, args.out / "tables", cache):
            print(f"table: {path}")
    if args.what in ("figures", "all"):
        for path in render_figures(runs, metrics, reported, args.out / "figures"):
            print(f"figure: {path}")
    if args.what in ("report", "all"):
        print(f"index: {write_index(args.out / 'README.md', reported, runs, args.conf, source, cache)}")


if __name__ == "__main__":
    main()
