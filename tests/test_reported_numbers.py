"""Every number the three papers print, as data: results/paper/reported_<paper>.csv.

Rows are hand transcriptions of the papers' tables (and of figure numbers stated in the text);
our runs are tagged with the same (item, row) strings, so the schema, the labels and a few spot
values are checked here. Quoted competitors must be flagged, so they are never mistaken for runs.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

PAPER_DIR = Path(__file__).resolve().parent.parent / "results" / "paper"
PAPERS = ("repeatnet", "shardnet", "softshare")
HEADER = ["paper", "item", "row", "column", "value", "unit", "quoted", "note"]

QUANTITIES = {"acc", "error", "top1_error", "top5", "top5_error", "f1", "params", "params_conv",
              "compression", "macs", "flops", "gpu_days", "gain"}
DATASETS = {"cifar10", "cifar100", "tinyimagenet", "imagenet", "rotmnist", "shortest_paths"}
#: the unit a quantity may carry; "pp" marks a change in error (percentage points), not an error
UNITS = {"acc": {"%"}, "top5": {"%"}, "error": {"%", "pp"}, "top1_error": {"%"}, "top5_error": {"%"},
         "f1": {"%", "ratio"}, "gain": {"%"}, "params": {"count"}, "params_conv": {"count"},
         "compression": {"ratio"}, "macs": {"MACs"}, "flops": {"GFLOPs", "count"}, "gpu_days": {"days"}}
#: experiment ids of EXPERIMENTS.md section 4, sub-tables with the papers' own letters
ITEMS = {
    "repeatnet": r"fig2|table[123]",
    "shardnet": r"fig[234578]|table1[abcd]|table2[ab]|table6[ab]|table7[ab]|table8",
    "softshare": r"table[1234]|fig[345678]|appb",
}


def _load(paper: str) -> tuple[list[str], list[dict]]:
    with open(PAPER_DIR / f"reported_{paper}.csv", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


TABLES = {paper: _load(paper) for paper in PAPERS}
ROWS = [row for paper in PAPERS for row in TABLES[paper][1]]


def _value(paper: str, item: str, row: str, column: str) -> float:
    hits = [r for r in TABLES[paper][1] if (r["item"], r["row"], r["column"]) == (item, row, column)]
    assert len(hits) == 1, f"{paper}/{item} {row!r} {column}: {len(hits)} rows"
    return float(hits[0]["value"])


@pytest.mark.parametrize("paper", PAPERS)
def test_schema_header_and_paper_column(paper):
    header, rows = TABLES[paper]
    assert header == HEADER
    assert rows, f"reported_{paper}.csv is empty"
    assert {r["paper"] for r in rows} == {paper}


@pytest.mark.parametrize("paper", PAPERS)
def test_every_item_is_an_experiment_id(paper):
    bad = {r["item"] for r in TABLES[paper][1] if not re.fullmatch(ITEMS[paper], r["item"])}
    assert not bad, f"{paper}: items not in EXPERIMENTS.md section 4: {sorted(bad)}"


def test_every_column_is_a_known_quantity_at_a_known_dataset():
    for r in ROWS:
        quantity, _, dataset = r["column"].partition("@")
        assert quantity in QUANTITIES, r
        assert not dataset or dataset in DATASETS, r
        assert r["unit"] in UNITS[quantity], r
        assert r["quoted"] in {"true", "false"}, r
        assert r["row"].strip() == r["row"] and r["row"], r


def test_performance_columns_name_their_dataset():
    """Accuracies and errors are compared across tables: the data set is never left implicit."""
    for r in ROWS:
        quantity = r["column"].partition("@")[0]
        if quantity in {"acc", "error", "top1_error", "top5", "top5_error", "f1"}:
            assert "@" in r["column"], r


def test_values_are_base_units():
    for r in ROWS:
        value = float(r["value"])
        if r["unit"] == "count":
            assert value == int(value) and value >= 1000, f"{r}: counts are absolute (36M -> 36000000)"
        if r["unit"] == "%":
            assert 0 <= value <= 100, r


def test_paper_item_row_column_is_unique():
    keys = [(r["paper"], r["item"], r["row"], r["column"]) for r in ROWS]
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes, dupes


SPOT = [
    ("softshare", "table3", "SWRN 50-2", "top1_error@imagenet", 21.74),
    ("softshare", "table1", "SWRN 28-10", "error@cifar100", 18.78),
    ("softshare", "table2", "ResNeXt-29 16x64", "params", 68e6),
    ("softshare", "table4", "SWRN 28-10-2", "error@cifar10", 2.69),
    ("softshare", "fig4", "SWRN 28-10-4 (stage 2 folded)", "error@cifar10", 0.02),
    ("repeatnet", "table3", "RepeatNet C8", "gain", 42.9),
    ("repeatnet", "table1", "Normal k=1", "params", 176e3),
    ("repeatnet", "table2", "RepeatNet k_rep=10", "acc@cifar100", 69.3),
    ("shardnet", "table1a", "SL-VGGNet (n=256)", "acc@cifar10", 93.5),
    ("shardnet", "table1a", "S-VGGNet (n=32)", "params_conv", 9.3e3),
    ("shardnet", "table1d", "VGGNet*", "top5@tinyimagenet", 81.4),
    ("shardnet", "table2b", "SL-ResNet-34 (n=512)", "compression", 21.6),
    ("shardnet", "table8", "SL3-ResNet (n=128)", "compression", 117.7),
    ("shardnet", "fig5", "SL-ResNet-50 (n=512), 60% pruned", "compression", 2.6),
]


@pytest.mark.parametrize("paper,item,row,column,expected", SPOT, ids=[f"{s[0]}-{s[1]}-{s[2]}-{s[3]}" for s in SPOT])
def test_spot_values_as_printed(paper, item, row, column, expected):
    assert _value(paper, item, row, column) == pytest.approx(expected)


#: competitors the papers quote from other work (a trailing * marks a baseline the paper retrained)
COMPETITORS = {
    "LegoNet": r"Lego-.*",
    "FSNet": r"FSNet-.*",
    "ShaResNet": r"ShaResNet-.*",
    "ResNeXt": r"ResNeXt-.*",
    "DenseNet": r"DenseNet[ -]\d.*",
    "DenseNet-264": r"DenseNet-264",
    "NASNet": r"NASNet-A .*",
    "AmoebaNet": r"AmoebaNet-B .*",
    "DARTS": r"DARTS",
    "SNAS": r"SNAS",
    "ENAS": r"ENAS",
    "ResNet-18": r"ResNet-18",
    "ResNet-34": r"ResNet-34",
    "ResNet-200": r"ResNet-200",
}


@pytest.mark.parametrize("name", COMPETITORS)
def test_quoted_competitors_are_flagged(name):
    matching = [r for r in ROWS if re.fullmatch(COMPETITORS[name], r["row"])]
    assert matching, f"{name} is never listed"
    assert all(r["quoted"] == "true" for r in matching), [r for r in matching if r["quoted"] != "true"]


#: our own models whose printed value the paper took from elsewhere: Zagoruyko & Komodakis' published WRN 28-10
#: errors (soft sharing Table 1), and ShardNet Fig. 5's caption C against a baseline it does not name
QUOTED_OWN = {("softshare", "table1", "WRN 28-10"), ("softshare", "table1", "WRN 28-10*"),
              ("shardnet", "fig5", "SL-ResNet-50 (n=512), 0% pruned"),
              ("shardnet", "fig5", "SL-ResNet-50 (n=512), 60% pruned")}


def test_own_models_are_not_flagged_quoted_unless_the_paper_quotes_their_value():
    own = r"(RepeatNet|Normal|Vanilla|RE-CNN|[ES]L?\d?b?-(VGGNet|ResNet)|SL\d?-ResNet|WRN 28|SWRN 28).*|.*\*"
    flagged = [r for r in ROWS if re.fullmatch(own, r["row"]) and r["quoted"] != "false"]
    assert {(r["paper"], r["item"], r["row"]) for r in flagged} == QUOTED_OWN
    assert all("quoted by the paper" in r["note"] or "no run of ours gives it" in r["note"] for r in flagged)


@pytest.mark.parametrize("group", ["C4", "C8", "C16"])
def test_repeatnet_gain_is_the_share_of_the_equivariant_improvement(group):
    """Gain % = (acc_RepeatNet - acc_vanilla) / (acc_RE-CNN - acc_vanilla) * 100, to the printed rounding."""
    vanilla = _value("repeatnet", "table3", "Vanilla CNN", "acc@rotmnist")
    repeat = _value("repeatnet", "table3", f"RepeatNet {group}", "acc@rotmnist")
    equivariant = _value("repeatnet", "table3", f"RE-CNN {group}", "acc@rotmnist")
    gain = (repeat - vanilla) / (equivariant - vanilla) * 100
    assert _value("repeatnet", "table3", f"RepeatNet {group}", "gain") == pytest.approx(gain, abs=0.05)


def test_shardnet_quotes_softshare_swrn50_as_its_accuracy():
    """ShardNet Table 2b quotes SWRN 50-2 from softshare Table 3: accuracy = 100 - error."""
    for accuracy, error in (("acc@imagenet", "top1_error@imagenet"), ("top5@imagenet", "top5_error@imagenet")):
        quoted = _value("shardnet", "table2b", "SWRN 50-2", accuracy)
        assert quoted == pytest.approx(100 - _value("softshare", "table3", "SWRN 50-2", error))
