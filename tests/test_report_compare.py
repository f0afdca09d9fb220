"""`python -m repeatnet_repro.report compare --by KEY,...`: a sweep of one's own, tagged with no paper preset
(`-m seed=0,1 sharing=none,soft`), grouped by dotted keys of each run's config.yaml."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from repeatnet_repro.report import load_metrics, load_runs
from repeatnet_repro.report.compare import compare_table, curve_figure, grouped_runs


def sweep_run(root: Path, name: str, *, sharing: str, width: int, seed: int, accs, params: int = 1000,
              config: dict | None = None) -> Path:
    """A run as `python -m repeatnet_repro.train -m ...` leaves it without an experiment preset: no tags."""
    run = root / name
    run.mkdir(parents=True)
    cfg = config or {"seed": seed, "tags": {"paper": None, "item": None, "row": None},
                     "model": {"name": "convnet", "width": width, "widths": [width, 2 * width]},
                     "sharing": {"name": sharing}, "trainer": {"epochs": len(accs)}}
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    lines = [{"epoch": e, "test_acc": acc} for e, acc in enumerate(accs, start=1)]
    (run / "summary.json").write_text(json.dumps({
        "status": "completed", "tags": {"paper": None, "item": None, "row": None}, "seed": seed, "params": params,
        "budget": {"name": "paper", "epochs": len(accs)}, "final": lines[-1],
        "best": max(lines, key=lambda m: m["test_acc"])}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    return run


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "runs"
    sweep_run(root, "0", sharing="none", width=16, seed=0, accs=[80.0, 90.0], params=5000)
    sweep_run(root, "1", sharing="none", width=16, seed=1, accs=[84.0, 92.0], params=5000)
    sweep_run(root, "2", sharing="soft", width=16, seed=0, accs=[96.0, 91.0], params=3000)
    sweep_run(root, "3", sharing="soft", width=8, seed=0, accs=[60.0, 70.0], params=1000)
    sweep_run(root, "smoke", sharing="none", width=16, seed=2, accs=[10.0])  # shorter: never averaged in
    return root


def by(root: Path, *keys: str):
    return grouped_runs(load_runs(root), keys)


def test_groups_have_mean_std_and_n_of_final_and_best_accuracy_and_params(sweep):
    table = compare_table(*by(sweep, "sharing.name", "model.width")).set_index(["sharing.name", "model.width"])
    assert list(table.index) == [("none", 16), ("soft", 8), ("soft", 16)]  # numbers sort as numbers
    none = table.loc[("none", 16)]
    assert none.n == 2 and none.budget == "paper 2ep"  # the 1-epoch run of that group is left out
    assert none.final_test_acc_mean == pytest.approx(91.0) and none.final_test_acc_std == pytest.approx(1.41421356)
    assert none.best_test_acc_mean == pytest.approx(91.0) and none.params_mean == 5000
    soft = table.loc[("soft", 16)]
    assert soft.n == 1 and soft.final_test_acc_mean == 91.0 and soft.best_test_acc_mean == 96.0
    assert pd.isna(soft.final_test_acc_std)  # one run has no spread
    assert "final_test_f1_mean" not in table  # no run has an F1


def test_list_values_group_as_their_text(sweep):
    table = compare_table(*by(sweep, "model.widths"))
    assert list(table["model.widths"]) == ["[16, 32]", "[8, 16]"] and list(table.n) == [3, 1]


def test_learning_curve_is_the_mean_over_each_groups_runs_per_epoch(sweep):
    done, values = by(sweep, "sharing.name")
    fig = curve_figure(done, values, load_metrics(sweep))
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in fig.axes[0].lines}
    assert lines == {"sharing.name=none (n=2)": ([1, 2], [82.0, 91.0]),
                     "sharing.name=soft (n=2)": ([1, 2], [78.0, 80.5])}


def run_cli(monkeypatch, capsys, *argv: str):
    from repeatnet_repro.report.__main__ import main

    monkeypatch.setattr(sys, "argv", ["report", "compare", *argv])
    main()
    return capsys.readouterr().out


def test_cli_writes_table_and_figure_beside_the_runs(sweep, monkeypatch, capsys):
    out = run_cli(monkeypatch, capsys, "--runs", str(sweep), "--by", "sharing.name,model.width")
    stem = "by_sharing.name-model.width"
    tables, figures = sweep / "report" / "tables", sweep / "report" / "figures"
    assert f"table: {tables / stem}.md" in out and f"figure: {figures / stem}_curves.png" in out
    md = (tables / f"{stem}.md").read_text()
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in md.splitlines() if line.startswith("| ")]
    assert rows[0][:5] == ["sharing.name", "model.width", "n", "budget", "final test acc"]
    assert rows[1][:6] == ["none", "16", "2", "paper 2ep", "91.00 ± 1.41", "91.00 ± 1.41"]
    assert pd.read_csv(tables / f"{stem}.csv").n.tolist() == [2, 1, 1]
    tex = (tables / f"{stem}.tex").read_text()
    assert r"sharing.name & model.width & n & budget & final test acc" in tex and r"\bottomrule" in tex
    assert (figures / f"{stem}_curves.pdf").read_bytes()[:4] == b"%PDF"


def fails(monkeypatch, capsys, *argv: str) -> str:
    """The CLI's one line on stderr, after checking that it exits with status 2."""
    from repeatnet_repro.report.__main__ import main

    monkeypatch.setattr(sys, "argv", ["report", "compare", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_a_key_absent_from_a_runs_config_is_one_line_naming_it_and_valid_keys(sweep, monkeypatch, capsys):
    err = fails(monkeypatch, capsys, "--runs", str(sweep), "--by", "sharing.name,model.widht")
    assert err.startswith("error: --by model.widht: no such key in ") and "model.width" in err
    old = sweep_run(sweep, "old", sharing="hard", width=4, seed=0, accs=[50.0, 60.0],
                    config={"seed": 0, "model": {"name": "convnet"}, "sharing": {"name": "hard"}})
    err = fails(monkeypatch, capsys, "--runs", str(sweep), "--by", "model.width")
    assert f"no such key in {old / 'config.yaml'}" in err and "model.name" in err
    err = fails(monkeypatch, capsys, "--runs", str(sweep), "--by", "model")  # a section: the keys under it
    assert "keys there include model.name, model.width, model.widths" in err


def test_runs_without_a_config_or_none_completed_are_one_line_errors(tmp_path, monkeypatch, capsys):
    run = sweep_run(tmp_path / "runs", "a", sharing="none", width=8, seed=0, accs=[50.0])
    (run / "config.yaml").unlink()
    assert f"error: {run} has no config.yaml" in fails(monkeypatch, capsys, "--runs", str(tmp_path / "runs"),
                                                       "--by", "seed")
    (tmp_path / "empty").mkdir()
    assert "no completed run records" in fails(monkeypatch, capsys, "--runs", str(tmp_path / "empty"), "--by", "seed")


def test_report_all_over_runs_of_ones_own_writes_every_paper_table_and_points_at_compare(sweep, tmp_path):
    """Untagged runs belong to no paper cell: the paper tables say 'not run', the index counts them."""
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.report", "all", "--runs", str(sweep), "--out",
                           str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "not run" in (tmp_path / "out" / "tables" / "softshare_table1.md").read_text()
    index = (tmp_path / "out" / "README.md").read_text()
    assert "Runs tagged with no experiment: 5 (`python -m repeatnet_repro.report compare --by KEY,...`" in index
