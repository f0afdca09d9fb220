"""results/README.md opens with what is reproduced at a glance: each cell of ours beside the paper's number with a
verdict computed by one stated rule, and whether an item's rows come out in the paper's order."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from repeatnet_repro.report.index import VERDICT_RULE, at_a_glance, verdict

CONF = Path(__file__).resolve().parent.parent / "conf"


def line(row: str, mean: float, paper: float, std: float = 0.0, n: int = 1, budget: str = "paper 30ep") -> dict:
    return {"paper": "repeatnet", "item": "table3", "row": row, "column": "acc@rotmnist", "unit": "%",
            "quoted": False, "paper_value": paper, "mean": mean, "std": std, "n": n, "runs": n, "budget": budget,
            "note": None, "diff": mean - paper}


def test_a_cell_within_a_point_or_two_of_our_stds_is_within_noise():
    assert verdict(line("a", 92.0, 92.9), 30) == "within noise"
    assert verdict(line("a", 90.0, 92.9, std=1.5, n=3), 30) == "within noise"


def test_a_cell_further_off_is_unresolved_below_the_papers_epochs_and_a_contradiction_at_them():
    assert verdict(line("a", 86.0, 92.6, budget="short 5ep"), 30) == "not resolved at this budget"
    assert verdict(line("a", 86.0, 92.6, budget="paper 30ep"), 30) == "contradicts"


def test_the_glance_table_gives_each_cell_its_verdict_and_each_item_its_ordering():
    long = pd.DataFrame([line("Vanilla CNN", 92.0, 92.6), line("RE-CNN C4", 96.4, 96.5),
                         line("RepeatNet C4", 90.0, 93.2)])
    text = at_a_glance([long], CONF)
    rows = [r for r in text.splitlines() if r.startswith("| repeatnet")]
    assert [r.split("|")[-2].strip() for r in rows] == ["within noise", "within noise", "contradicts",
                                                        "ordering differs"]
    assert "paper 30ep of 30ep" in rows[0] and text.endswith(VERDICT_RULE)
