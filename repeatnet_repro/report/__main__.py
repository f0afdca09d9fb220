"""`python -m repeatnet_repro.report tables|figures|all [--runs DIR] [--paper DIR] [--out DIR]`."""
from __future__ import annotations

import argparse
from pathlib import Path

from .collect import load_metrics, load_runs
from .figures import heldout_f1_curves, learning_curves
from .tables import load_reported, render_tables

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m repeatnet_repro.report", description=__doc__)
    parser.add_argument("what", choices=["tables", "figures", "all"])
    parser.add_argument("--runs", type=Path, default=ROOT / "results" / "runs")
    parser.add_argument("--paper", type=Path, default=ROOT / "results" / "paper")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    args = parser.parse_args()
    if not args.runs.is_dir():
        parser.error(f"--runs {args.runs} is not a folder (run something first, e.g. `make demo`)")
    runs = load_runs(args.runs)
    print(f"{len(runs)} run records under {args.runs}")
    if args.what in ("tables", "all"):
        for path in render_tables(load_reported(args.paper), runs, args.out / "tables"):
            print(f"table: {path}")
    if args.what in ("figures", "all"):
        metrics = load_metrics(args.runs)
        for draw in (learning_curves, heldout_f1_curves):
            for path in draw(runs, metrics, args.out / "figures"):
                print(f"figure: {path}")


if __name__ == "__main__":
    main()
