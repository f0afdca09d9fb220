"""The layout of results/: committed numbers (results/{paper,tables,figures,README.md}, the curated runs) apart
from everything a user's commands write (demo, smoke and other sweeps, their reports), which git ignores.
One table documents it (report/index.py LAYOUT, also in the README and every report's index); a report
follows its runs, so only `make results` rewrites the committed files, and only from the curated runs."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from repeatnet_repro.engine.sweep_layout import sweep_dir
from repeatnet_repro.report.index import LAYOUT
from test_report import records  # noqa: F401  (fixture: softshare/table1 runs)

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")
needs_git = pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")

#: a value for every placeholder of the layout's paths
EXAMPLE = {"<paper>": "softshare", "<item>": "fig4", "<budget>": "smoke", "<job>": "row=swrn_28_10_4,seed=0",
           "<study>": "mnist_schemes", "<sweep>": "paper", "<runs>": "results/runs"}


def layout_rows(text: str) -> list:
    """(paths, in git) of each row of the layout table in `text`."""
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return [(re.findall(r"`([^`]+)`", row.split(" | ")[0]), row.rstrip(" |").split(" | ")[-1]) for row in rows]


def example(path: str) -> str:
    for placeholder, value in EXAMPLE.items():
        path = path.replace(placeholder, value)
    return path + "summary.json" if path.endswith("/") else path


def test_the_readme_documents_the_layout_every_report_index_gives():
    table = "\n".join(line for line in LAYOUT.splitlines() if line.startswith("|"))
    assert table in (REPO / "README.md").read_text(), "README.md's 'Where things live' is report/index.py's LAYOUT"
    assert {"results/runs/demo/", "results/runs/curated/<study>/", "results/runs/<paper>/<item>/<budget>/<job>/"} <= {
        path for paths, _ in layout_rows(LAYOUT) for path in paths}


@needs_git
def test_what_the_layout_says_is_in_git_is_exactly_what_git_does_not_ignore():
    for paths, in_git in layout_rows(LAYOUT):
        for path in paths:
            ignored = subprocess.run(["git", "check-ignore", "-q", example(path)], cwd=REPO).returncode == 0
            assert ignored == (in_git == "no"), (path, in_git)


def test_a_preset_sweep_lands_where_the_layout_says_its_budget_apart_from_the_others():
    smoke, short = (sweep_dir("results/runs", "softshare/fig4", budget) for budget in ("smoke", "short"))
    assert f"{smoke}/{EXAMPLE['<job>']}/summary.json" == example("results/runs/<paper>/<item>/<budget>/<job>/")
    assert smoke != short and not short.startswith(smoke)
    assert sweep_dir("results/runs", None, "paper") == "results/runs/multirun/paper"
    assert sweep_dir("results/runs", "demo", "paper").startswith("results/runs/demo/")


def recipe(*goal: str) -> list:
    """The report command lines `make -n GOAL` would run."""
    out = subprocess.run(["make", "-n", *goal], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line.split("-m repeatnet_repro.report ", 1)[1].split() for line in out.replace("\\\n", " ").splitlines()
            if "-m repeatnet_repro.report " in line]


@needs_make
def test_only_make_results_writes_the_committed_results_and_only_from_the_curated_runs():
    assert recipe("results") == [["all", "--runs", "results/runs/curated", "--out", "results"]]
    for goal in ("tables", "figures", "report", "demo", "sweep EXP=softshare/fig4 BUDGET=smoke"):
        for line in recipe(*goal.split()):
            assert "--out" not in line, (goal, line)  # each writes into <its runs>/report
    assert recipe("report", "RUNS=/elsewhere") == [["all", "--runs", "/elsewhere"]]
    assert recipe("sweep", "EXP=softshare/fig4", "BUDGET=smoke")[-1][-1] == "results/runs/softshare/fig4/smoke"


def snapshot(root: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def test_a_report_over_other_runs_writes_beside_them_and_nothing_into_the_repositorys_results(records, tmp_path):  # noqa: F811
    committed = [REPO / "results" / name for name in ("tables", "figures", "README.md", "paper")] + [
        REPO / "results" / "runs" / "curated"]
    before = {path: snapshot(path) if path.is_dir() else path.stat().st_mtime_ns for path in committed}
    records_before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.report", "all", "--runs", str(records)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert {path: snapshot(path) if path.is_dir() else path.stat().st_mtime_ns for path in committed} == before
    written = set(snapshot(tmp_path)) - set(records_before)
    assert written and all(p.is_relative_to(records / "report") for p in written)
    assert records / "report" / "README.md" in written and records / "report" / "tables" / "softshare_table1.tex" in written
