"""`selection=final|heldout`: the papers' texts (all training images, the final epoch quoted) or the soft-sharing
authors' main.py (45k/5k, the epoch best on the 5k held out, its test numbers), one switch on any CIFAR preset;
a table cell never mixes the two and says when it quotes a best-on-validation epoch."""
from __future__ import annotations

import pandas as pd

from conftest import run_entrypoint
from repeatnet_repro.config import compose
from repeatnet_repro.report.collect import flatten, runs_frame
from repeatnet_repro.report.tables import build_table


def test_heldout_trains_on_45k_and_picks_the_epoch_on_the_5k_it_holds_out():
    paper = compose(["experiment=softshare/table1"])
    authors = compose(["experiment=softshare/table1", "selection=heldout"])
    assert (paper.dataset.val_size, paper.trainer.select_on) == (0, "auto")
    assert (authors.dataset.val_size, authors.trainer.select_on) == (5000, "val")


def test_heldout_on_a_data_set_without_a_validation_split_is_one_error_line():
    proc = run_entrypoint("experiment=repeatnet/table3", "selection=heldout")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: In 'selection/heldout': Key 'val_size' not in 'DatasetRotmnistConfig' (key dataset.val_size)"]


def _run(acc: float, reported: str, name: str) -> dict:
    summary = {"status": "completed", "tags": {"paper": "softshare", "item": "table1", "row": "SWRN 28-10"},
               "dataset": "cifar10", "budget": {"name": "paper", "epochs": 200},
               "final": {"epoch": 200, "test_acc": acc}, "reported": {"test_acc": acc},
               "selection": {"best_on": "val_acc" if reported == "best" else None, "reported": reported}}
    return flatten(summary, name)


def _cell(runs: list) -> pd.Series:
    reported = pd.DataFrame([{"paper": "softshare", "item": "table1", "row": "SWRN 28-10",
                              "column": "error@cifar10", "value": 3.74, "unit": "%", "quoted": "false", "note": ""}])
    table = build_table("softshare", "table1", reported, runs_frame(runs))
    return table.set_index("row").loc["SWRN 28-10"]


def test_a_cell_of_best_on_validation_runs_says_so():
    cell = _cell([_run(96.0, "best", "a"), _run(96.2, "best", "b")])
    assert cell["budget"] == "paper 200ep best-on-val" and cell["n"] == 2


def test_a_cell_never_averages_the_two_protocols_and_prefers_the_papers_final_epoch():
    cell = _cell([_run(96.0, "best", "a"), _run(95.0, "final", "b"), _run(95.5, "final", "c")])
    assert cell["budget"] == "paper 200ep" and cell["n"] == 2
    assert cell["mean"] == 100 - 95.25
