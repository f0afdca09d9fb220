"""The numbers the README quotes are the committed results' (which `make results` rebuilds from the curated run
records, tests/test_results_layout.py): a rerun that changes a result makes the README's sentence fail here."""
from __future__ import annotations

import json
import re

import pandas as pd

from conftest import REPO
from repeatnet_repro.catalog import presets
from repeatnet_repro.count import count_config, requoted

README = (REPO / "README.md").read_text()
COLUMNS = ["none", "hard @ params", "soft @ params", "repeat @ params", "hard @ macs", "soft @ macs",
           "repeat @ macs"]
BACKBONES = {"CIFAR ResNet": "resnet_cifar", "WRN-16-1": "wrn", "VGGNet": "vggnet"}


def readme_benchmark() -> dict:
    """(backbone, row) -> (mean, std) as the README's cross-scheme table prints them."""
    out = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = next((b for b in BACKBONES if cells[0].startswith(b + " (")), None)
        if name and len(cells) == 1 + len(COLUMNS):
            for row, cell in zip(COLUMNS, cells[1:]):
                mean, std = map(float, re.fullmatch(r"([\d.]+) ± ([\d.]+)", cell).groups())
                out[(BACKBONES[name], row)] = (mean, std)
    return out


def test_the_readmes_cross_scheme_table_is_the_committed_benchmark_table_rounded():
    quoted = readme_benchmark()
    table = pd.read_csv(REPO / "results" / "tables" / "compare_benchmark_cifar10.csv")
    assert len(quoted) == len(table) == 21
    for line in table.itertuples():
        mean, std = quoted[(line.backbone, line.row)]
        assert abs(mean - line.acc) <= 0.05 + 1e-9 and abs(std - line.std) <= 0.05 + 1e-9, (line.backbone, line.row)
    assert "19,200 training images per run" in README and set(table.train_images) == {19_200}


def test_the_readmes_compute_time_of_the_benchmark_is_the_records_wall_time():
    records = sorted((REPO / "results" / "runs" / "curated" / "compare_cifar10").glob("*/*/summary.json"))
    minutes = sum(json.loads(p.read_text())["wall_time_s"] for p in records) / 60
    assert len(records) == 42 and f"{minutes:.1f} min for\nthe 42 runs" in README


def test_the_readmes_matched_budget_example_prints_the_width_it_chose():
    """The README's `count ... match.params=...` line, as the shell hands it to the count CLI."""
    command = re.search(r"python -m repeatnet_repro\.count (model=wrn .*?) \\\n\s+(match\.params=\"[^\"]+\")", README)
    overrides = [*command.group(1).split(), command.group(2).replace('"', "")]
    printed = count_config(requoted(overrides))["match"]
    assert printed["knob"] == "model.width" and printed["value"] == 64
    assert abs(printed["ratio"] - 1) <= printed["tolerance"]


def test_the_readmes_training_speed_table_is_the_committed_benchmark_record():
    record = json.loads((REPO / "results" / "benchmarks" / "train_cpu.json").read_text())
    for model in record["models"].values():
        ours, fp32 = model, model["fp32"]
        line = (f"| {model['label']} | **{ours['ratio']:.2f}** ({ours['min']:.2f}-{ours['max']:.2f}) | "
                f"{fp32['ratio']:.2f} ({fp32['min']:.2f}-{fp32['max']:.2f}) |")
        assert line in README, line
    text, fp32 = " ".join(README.split()), [m["fp32"]["ratio"] for m in record["models"].values()]
    assert all(m["ratio"] >= 2 for m in record["models"].values()) and "The goal of 2x holds for every model" in text
    assert max(fp32) < 1.3 and f"fp32 goal of 1.3x is not reached ({min(fp32):.2f}-{max(fp32):.2f})" in text


def fmt(r: dict) -> str:
    return f"{r['ratio']:.2f} ({r['min']:.2f}-{r['max']:.2f})"


def test_the_readmes_levers_are_the_committed_benchmark_records():
    record = json.loads((REPO / "results" / "benchmarks" / "train_cpu.json").read_text())
    levers, text = record["levers"]["resnet16_rep4"]["vs_fp32"], " ".join(README.split())
    for name, quoted in (("fp32 + channels_last", "channels_last"), ("bf16", "bf16"),
                         ("bf16 + channels_last", "bf16 + channels_last"), ("bf16 + channels_last + compile",
                                                                            "+ torch.compile")):
        assert f"{quoted} {fmt(levers[name])}" in text, name


def test_the_readmes_weight_synthesis_table_is_the_committed_benchmark_records():
    """Columns: bf16 + channels_last at batch 32, at batch 64, fp32 + channels_last at batch 32."""
    records = [json.loads((REPO / "results" / "benchmarks" / f"{stem}.json").read_text())["pairs"]
               for stem in ("sharing_cpu", "sharing_cpu_b64", "sharing_cpu_fp32")]
    for pair in records[0]:
        cells = [fmt(r[pair]) if pair in r else "" for r in records]
        line = " ".join(f"| {pair.replace(' (', ', ').removesuffix(')')} | {' | '.join(cells)} |".split())
        assert line in [" ".join(row.split()) for row in README.splitlines()], line
    soft = [r[p]["ratio"] for r in records for p in r if p.startswith("soft")]
    repeat = [r["repeat / none (ResNet-16 k=4)"] for r in records]
    assert max(soft) <= 1.05 and "The soft pairs meet the 1.05 goal in every column" in README
    assert repeat[1]["ratio"] <= 1.05 and repeat[2]["ratio"] <= 1.05 < repeat[0]["ratio"]
    assert f"misses it at batch 32 in bf16 ({repeat[0]['ratio']:.2f}; its per-rep spread, {repeat[0]['min']:.2f}-" \
           f"{repeat[0]['max']:.2f}," in " ".join(README.split())


def test_every_committed_benchmark_record_ran_at_a_clean_commit():
    for path in sorted((REPO / "results" / "benchmarks").glob("*.json")):
        commit = json.loads(path.read_text())["git_commit"]
        assert len(commit) == 40 and not commit.endswith("+dirty"), path.name


def test_the_readmes_smoke_time_is_the_committed_record_of_every_preset_each_under_a_minute():
    record = json.loads((REPO / "results" / "benchmarks" / "smoke_cpu.json").read_text())
    runs = record["runs"]
    assert sorted(r["preset"] for r in runs) == presets() and all(r["status"] == "completed" for r in runs)
    slowest = max(runs, key=lambda r: r["seconds"])
    assert slowest["seconds"] < 60 and (record["threads"], record["jobs"]) == (1, 2)
    total = sum(r["seconds"] for r in runs) / 60
    assert f"the slowest {slowest['preset']} ({slowest['seconds']:.0f} s), all {len(runs)} presets {total:.1f} min" \
        in " ".join(README.split())
