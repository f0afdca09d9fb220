"""A curated study's README says what its records hold: its `Records:` line (runs, seeds, epochs of the protocol's,
data set and the data options that matter) is read back from every summary.json and config.yaml under it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

CURATED = Path(__file__).resolve().parent.parent / "results" / "runs" / "curated"
STUDIES = sorted(p.parent.name for p in CURATED.glob("*/README.md"))
LINE = re.compile(r"^Records: (?P<runs>\d+) runs · seeds (?P<seeds>[\d, ]+) · (?P<done>[\d, ]+) of (?P<planned>\d+) "
                  r"epochs · data (?P<data>\w+)(?: \((?P<options>[^)]*)\))?", re.M)


def stated(study: str) -> dict:
    match = LINE.search((CURATED / study / "README.md").read_text())
    assert match, f"{study}/README.md has no 'Records: N runs · seeds S · E[, E2] of P epochs · data D (k=v, ...)' line"
    return match.groupdict()


def test_every_curated_study_has_a_readme():
    assert STUDIES and {p.name for p in CURATED.iterdir() if p.is_dir() and p.name != "report"} == set(STUDIES)


@pytest.mark.parametrize("study", STUDIES)
def test_the_readmes_records_line_is_what_the_records_hold(study):
    summaries = sorted((CURATED / study).rglob("summary.json"))
    records = [(json.loads(p.read_text()), yaml.safe_load((p.parent / "config.yaml").read_text())) for p in summaries]
    line = stated(study)
    assert int(line["runs"]) == len(records)
    assert [int(s) for s in line["seeds"].split(",")] == sorted({s["seed"] for s, _ in records})
    assert {s["status"] for s, _ in records} == {"completed"}
    assert sorted({s["epochs_done"] for s, _ in records}) == [int(e) for e in line["done"].split(",")], \
        "the epochs the runs trained"
    assert {c["trainer"]["epochs"] for _, c in records} == {int(line["planned"])}, "the protocol's epochs"
    assert {c["dataset"]["name"] for _, c in records} == {line["data"]}
    for option in filter(None, (line["options"] or "").split(", ")):
        key, value = option.split("=")
        assert {str(c["dataset"].get(key)) for _, c in records} == {value}, option


def test_a_measurement_study_fills_no_paper_cell():
    """shardnet_identity_start varies the init of Table 7a's rows: a `.measurement` study keeps no paper tags."""
    from repeatnet_repro.report.collect import load_runs

    runs = load_runs(CURATED)
    ablation = runs[runs.run_dir.str.contains("shardnet_identity_start")]
    assert len(ablation) == 4 and ablation.paper.isna().all() and ablation.item.isna().all()
    assert (runs.paper == "repeatnet").sum() == 3, "the other studies keep their tags"
