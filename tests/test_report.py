"""`make tables` / `make figures`: paper tables and curves rebuilt from fixture run records."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from repeatnet_repro.report import build_table, load_metrics, load_reported, load_runs, render_tables
from repeatnet_repro.report.figures import learning_curves


def write_run(root: Path, name: str, *, row: str, dataset: str, acc: float, seed: int, status="completed",
              params=36_500_000, budget="short", epochs=3):
    run = root / name
    run.mkdir(parents=True)
    summary = {"status": status, "tags": {"paper": "softshare", "item": "table1", "row": row},
               "model": "wrn", "sharing": "soft", "dataset": dataset, "seed": seed, "params": params,
               "params_conv": params - 1000, "budget": {"name": budget, "epochs": epochs},
               "final": {"test_acc": acc}, "best": {"test_acc": acc}}
    (run / "summary.json").write_text(json.dumps(summary))
    lines = [{"epoch": e, "test_acc": acc - (epochs - e)} for e in range(1, epochs + 1)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))


@pytest.fixture
def records(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", row="WRN 28-10", dataset="cifar10", acc=95.0, seed=0)
    write_run(root, "b", row="WRN 28-10", dataset="cifar10", acc=96.0, seed=1)
    write_run(root, "c", row="WRN 28-10", dataset="cifar100", acc=80.0, seed=0)
    write_run(root, "d", row="SWRN 28-10", dataset="cifar10", acc=10.0, seed=0, status="failed")
    return root


def test_table_cells_are_paper_value_beside_mean_std_n_budget_and_difference(records):
    reported = load_reported(REPO / "results" / "paper")
    table = build_table("softshare", "table1", reported, load_runs(records))
    cell = table[(table.row == "WRN 28-10") & (table.column == "error@cifar10")].iloc[0]
    assert cell.paper_value == 4.0
    assert cell["mean"] == pytest.approx(4.5)            # errors 5.0 and 4.0
    assert cell["std"] == pytest.approx(0.70710678)      # sample std of the two seeds
    assert cell.n == 2 and cell.budget == "short 3ep"
    assert cell["diff"] == pytest.approx(0.5)
    c100 = table[(table.row == "WRN 28-10") & (table.column == "error@cifar100")].iloc[0]
    assert c100["mean"] == pytest.approx(20.0) and c100.n == 1 and c100["std"] == 0.0
    failed_only = table[(table.row == "SWRN 28-10") & (table.column == "error@cifar10")].iloc[0]
    assert failed_only.n == 0 and pd.isna(failed_only["mean"])  # failed runs never count


def test_rendered_tables_say_not_run_for_empty_cells_and_write_md_csv_tex(records, tmp_path):
    reported = load_reported(REPO / "results" / "paper")
    paths = render_tables(reported, load_runs(records), tmp_path / "tables")
    md = (tmp_path / "tables" / "softshare_table1.md").read_text()
    assert tmp_path / "tables" / "softshare_table1.md" in paths
    assert "not run" in md and "4.50 ± 0.71 (n=2, short 3ep)" in md
    assert (tmp_path / "tables" / "softshare_table1.csv").is_file()
    assert "\\begin{tabular}" in (tmp_path / "tables" / "softshare_table1.tex").read_text()


def test_no_run_records_at_all_is_not_an_error(tmp_path):
    reported = load_reported(REPO / "results" / "paper")
    (tmp_path / "empty").mkdir()
    paths = render_tables(reported, load_runs(tmp_path / "empty"), tmp_path / "tables")
    assert paths and "not run" in paths[0].read_text()


def test_learning_curve_figure_is_written_as_png_and_pdf(records, tmp_path):
    paths = learning_curves(load_runs(records), load_metrics(records), tmp_path / "figures")
    assert [p.name for p in paths] == ["softshare_table1_curves.png"]
    assert (tmp_path / "figures" / "softshare_table1_curves.pdf").stat().st_size > 1000
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_report_cli_prints_the_paths_it_wrote(records, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.report", "all", "--runs", str(records),
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "table: " in proc.stdout and "figure: " in proc.stdout
    assert (tmp_path / "out" / "tables" / "softshare_table1.md").is_file()


def test_heldout_f1_figure_has_one_panel_per_model_and_a_line_per_difficulty(tmp_path):
    from repeatnet_repro.report.figures import heldout_f1_curves

    root = tmp_path / "runs"
    for row in ("CNN", "SCNN"):
        run = root / row
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({
            "status": "completed", "tags": {"paper": "softshare", "item": "fig5", "row": row}, "seed": 0,
            "budget": {"name": "short", "epochs": 5}, "final": {"test_f1": 0.5}}))
        lines = [{"epoch": e, **{f"heldout{p}_f1": e / (5 * p) for p in range(1, 6)}} for e in range(1, 6)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    write_run(root, "classifier", row="WRN 28-10", dataset="cifar10", acc=95.0, seed=0)  # no held-out sets
    paths = heldout_f1_curves(load_runs(root), load_metrics(root), tmp_path / "figures")
    assert [p.name for p in paths] == ["softshare_fig5_heldout_f1.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert heldout_f1_curves(load_runs(root), load_metrics(root).drop(
        columns=[f"heldout{p}_f1" for p in range(1, 6)]), tmp_path / "none") == []
