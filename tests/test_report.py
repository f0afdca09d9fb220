"""`make tables` / `make figures`: paper tables and curves rebuilt from fixture run records."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from repeatnet_repro.report import (DERIVED, QUANTITIES, build_table, load_metrics, load_reported, load_runs,
                                     render_tables, write_index)
from repeatnet_repro.report.tables import cell_text, to_markdown
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


def report(monkeypatch, capsys, *argv: str) -> str:
    """`python -m repeatnet_repro.report ARGV` in this process; returns what it printed."""
    from repeatnet_repro.report.__main__ import main

    monkeypatch.setattr(sys, "argv", ["report", *argv])
    main()
    return capsys.readouterr().out


def test_the_report_goes_into_the_runs_folder_unless_out_says_otherwise(records, monkeypatch, capsys):
    out = report(monkeypatch, capsys, "all", "--runs", str(records))
    written = [Path(line.split(": ", 1)[1]) for line in out.splitlines() if line.startswith(("table:", "figure:",
                                                                                           "index:"))]
    assert written and all(path.is_relative_to(records / "report") for path in written)
    assert {p.relative_to(records / "report").as_posix() for p in written} >= {
        "tables/softshare_table1.md", "figures/softshare_table1_curves.png", "README.md"}
    assert f"writing under {records / 'report'}" in out


def test_two_reports_over_the_same_records_are_byte_identical(records, tmp_path, monkeypatch, capsys):
    import time

    for out in ("one", "two"):
        report(monkeypatch, capsys, "all", "--runs", str(records), "--out", str(tmp_path / out))
        time.sleep(1.1)  # a creation date (PDF: to the second) would differ
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*") if p.is_file()}
    assert {p.suffix for p in one} == {".md", ".csv", ".tex", ".png", ".pdf"}
    assert one.keys() == two.keys()
    assert [p for p in one if one[p] != two[p]] == []


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
        lines = [{"epoch": e, "train_phase": e, **{f"heldout{p}_f1": e / (5 * p) for p in range(1, 6)}}
                 for e in range(1, 6)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    write_run(root, "classifier", row="WRN 28-10", dataset="cifar10", acc=95.0, seed=0)  # no held-out sets
    paths = heldout_f1_curves(load_runs(root), load_metrics(root), tmp_path / "figures")
    assert [p.name for p in paths] == ["softshare_fig5_heldout_f1.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert heldout_f1_curves(load_runs(root), load_metrics(root).drop(
        columns=[f"heldout{p}_f1" for p in range(1, 6)]), tmp_path / "none") == []


def test_curriculum_phases_are_marked_where_the_training_phase_changes():
    import matplotlib.pyplot as plt
    import pandas as pd

    from repeatnet_repro.report.figures.curves import mark_phases

    fig, ax = plt.subplots()
    mark_phases(ax, pd.Series([1, 1, 2, 2, 3], index=[1, 2, 3, 4, 5]))
    assert [line.get_xdata()[0] for line in ax.lines] == [2.5, 4.5]
    assert [text.get_text() for text in ax.texts] == ["train 1", "train 2", "train 3"]
    plt.close(fig)


# ---- derived columns, the results/README.md index and the W&B source, on hand-made run records ----------

def record(root: Path, name: str, paper: str, item: str, row: str, dataset: str, accs, seed: int = 0,
           status: str = "completed", **summary) -> Path:
    """A run record as training writes it: metrics.jsonl (one line per accuracy) and summary.json."""
    run = root / name
    run.mkdir(parents=True)
    lines = [{"epoch": e, "lr": 0.1, "train_loss": 1.0 / e, "test_acc": acc, "test_top5": min(100.0, acc + 3),
              "test_loss": 0.5} for e, acc in enumerate(accs, start=1)]
    best = max(lines, key=lambda m: m["test_acc"])
    full = {"status": status, "mode": "train", "name": f"{item}-{name}", "tags": {"paper": paper, "item": item,
            "row": row}, "model": "m", "sharing": "none", "dataset": dataset, "seed": seed, "params": 1000,
            "params_conv": 900, "device": "NVIDIA H100", "run_dir": str(run),
            "budget": {"name": "short", "epoch_scale": 1.0, "max_epochs": None, "epochs": len(accs)},
            **summary}
    if status == "completed":
        full.update(final=lines[-1], best={k: v for k, v in best.items() if k.startswith("test_") or k == "epoch"},
                    epochs_done=len(accs))
    (run / "summary.json").write_text(json.dumps(full))
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    return run


def fold_summary(points):
    """summary.analysis.fold of a run: (threshold, layers, distinct_layers, delta_error) per point."""
    return {"fold": {"baseline": {"test_acc": 95.0, "test_error": 5.0}, "points": [
        {"threshold": t, "layers": n, "distinct_layers": d, "test_acc": 95.0 - de, "test_error": 5.0 + de,
         "delta_error": de} for t, n, d, de in points]}}


@pytest.fixture
def study(tmp_path):
    """Runs of RepeatNet Table 3, ShardNet Tables 1a and 8, soft sharing Table 3 and Figs. 4 and 6."""
    root = tmp_path / "runs"
    t3 = dict(paper="repeatnet", item="table3", dataset="rotmnist")
    record(root, "van0", row="Vanilla CNN", accs=[90.0, 92.0], **t3)
    record(root, "van1", row="Vanilla CNN", accs=[91.0, 94.0], seed=1, **t3)
    record(root, "re4", row="RE-CNN C4", accs=[96.0, 97.0], **t3)
    record(root, "rep4a", row="RepeatNet C4", accs=[94.0, 95.0], **t3)
    record(root, "rep4b", row="RepeatNet C4", accs=[93.0, 95.4], seed=1, **t3)
    record(root, "rep8", row="RepeatNet C8", accs=[80.0, 94.0], **t3)  # no RE-CNN C8 run: no gain
    record(root, "rep16", row="RepeatNet C16", accs=[50.0], status="failed", **t3)
    t1a = dict(paper="shardnet", item="table1a", dataset="cifar10")
    record(root, "e32", row="E-VGGNet (n=32)", accs=[87.0], **t1a)  # its row declares no reference
    record(root, "s32a", row="S-VGGNet (n=32)", accs=[70.0], compression=12.5,
           reference={"overrides": ["sharing=none"], "params": 120_000, "params_conv": 112_000}, **t1a)
    record(root, "s32b", row="S-VGGNet (n=32)", accs=[72.0], seed=1, compression=11.5, **t1a)
    t8 = dict(paper="shardnet", item="table8", dataset="cifar10")
    record(root, "resnet", row="ResNet*", accs=[93.0], **{**t8, "params_conv": 700_000})
    record(root, "sl3", row="SL3-ResNet (n=128)", accs=[92.0], **{**t8, "params_conv": 175_000})
    record(root, "wrn50", paper="softshare", item="table3", row="WRN-50-2", dataset="imagenet", accs=[77.0])
    record(root, "swrn4", paper="softshare", item="fig4", row="SWRN 28-10-4", dataset="cifar10", accs=[95.0],
           analysis=fold_summary([(0.95, 18, 18, 0.0), (0.9, 18, 16, 0.04), (0.8, 18, 12, 0.3)]))
    record(root, "swrn8", paper="softshare", item="fig6", row="SWRN 40-8-8", dataset="cifar10", accs=[95.0],
           analysis=fold_summary([(0.9, 30, 30, 0.05), (0.8, 30, 20, 0.25)]))
    return root


def cell(table: pd.DataFrame, row: str, column: str) -> pd.Series:
    return table[(table.row == row) & (table.column == column)].iloc[0]


@pytest.fixture
def reported():
    return load_reported(REPO / "results" / "paper")


def test_repeatnet_gain_is_recomputed_from_our_row_means_with_the_smallest_n(study, reported):
    table = build_table("repeatnet", "table3", reported, load_runs(study))
    vanilla = cell(table, "Vanilla CNN", "acc@rotmnist")
    assert vanilla["mean"] == pytest.approx(93.0) and vanilla["std"] == pytest.approx(1.41421356)
    assert vanilla["diff"] == pytest.approx(93.0 - 92.6)
    gain = cell(table, "RepeatNet C4", "gain")
    # (95.2 - 93.0) / (97.0 - 93.0) * 100; n = min(2 RepeatNet, 2 vanilla, 1 RE-CNN)
    assert gain["mean"] == pytest.approx(55.0) and gain.n == 1 and pd.isna(gain["std"])
    assert gain["diff"] == pytest.approx(55.0 - 15.4) and gain.budget == "derived (short 2ep)"
    assert gain.note.startswith("derived: gain %")
    no_equivariant_run = cell(table, "RepeatNet C8", "gain")
    assert no_equivariant_run.n == 0 and pd.isna(no_equivariant_run["mean"])
    failed_only = cell(table, "RepeatNet C16", "gain")
    assert failed_only.n == 0 and failed_only.runs == 0
    md = to_markdown(table, "repeatnet/table3")
    assert "55.00 (derived (short 2ep), n=1)" in md and "not reported" in md


def test_compression_comes_from_each_run_and_is_never_made_up(study, reported):
    runs = load_runs(study)
    s32 = runs[runs.row == "S-VGGNet (n=32)"].set_index("seed")
    assert s32.loc[0, "reference_params"] == 120_000 and s32.loc[0, "reference_params_conv"] == 112_000
    assert pd.isna(s32.loc[1, "reference_params"])
    table = build_table("shardnet", "table1a", reported, runs)
    c = cell(table, "S-VGGNet (n=32)", "compression")
    assert c["mean"] == pytest.approx(12.0) and c["std"] == pytest.approx(0.70710678) and c.n == 2
    assert c.paper_value == 12.0 and c["diff"] == pytest.approx(0.0)
    lacking = cell(table, "E-VGGNet (n=32)", "compression")
    assert lacking.n == 0 and lacking.runs == 1 and pd.isna(lacking["mean"])
    assert cell_text(lacking.to_dict()) == "— (none of 1 runs has it)"
    assert cell_text(cell(table, "S-VGGNet (n=64)", "compression").to_dict()) == "not run"


def test_compression_against_quoted_references_and_between_our_rows(study, reported):
    table = build_table("shardnet", "table8", reported, load_runs(study))
    # Table 8's C is relative to ResNet-34 (21.30M, quoted); 'A vs B' = |W_conv|(B) / |W_conv|(A)
    assert cell(table, "SL3-ResNet (n=128)", "compression")["mean"] == pytest.approx(21_300_000 / 175_000)
    assert cell(table, "ResNet*", "compression")["mean"] == pytest.approx(21_300_000 / 700_000)
    versus = cell(table, "SL3-ResNet (n=128) vs ResNet*", "compression")
    assert versus["mean"] == pytest.approx(4.0) and versus.n == 1 and versus.paper_value == 4.0
    quoted = cell(table, "ResNet-34", "compression")
    assert quoted.quoted and quoted.n == 0


def test_top1_and_top5_errors_are_100_minus_our_accuracies(study, reported):
    table = build_table("softshare", "table3", reported, load_runs(study))
    assert cell(table, "WRN-50-2", "top1_error@imagenet")["mean"] == pytest.approx(23.0)
    assert cell(table, "WRN-50-2", "top5_error@imagenet")["mean"] == pytest.approx(20.0)


def test_folding_error_changes_are_read_from_the_fold_analysis(study, reported):
    runs = load_runs(study)
    fig6 = cell(build_table("softshare", "fig6", reported, runs), "SWRN 40-8-8 (folded)", "error@cifar10")
    assert fig6["mean"] == pytest.approx(0.25) and fig6.paper_value == 0.3 and fig6.unit == "pp"
    fig4 = cell(build_table("softshare", "fig4", reported, runs), "SWRN 28-10-4 (stage 2 folded)", "error@cifar10")
    assert fig4["mean"] == pytest.approx(0.3)  # the point at similarity 0.8, as for Fig. 6 (and the figures)


def test_every_reported_column_has_a_per_run_quantity_or_a_derived_rule(reported):
    for paper, item, column in set(zip(reported.paper, reported.item, reported.column)):
        quantity = column.partition("@")[0]
        assert quantity in QUANTITIES, column
        if quantity == "gain":
            assert (paper, item, column) in DERIVED
    pp = reported[reported.unit == "pp"]
    assert {(p, i, c) for p, i, c in zip(pp.paper, pp.item, pp.column)} <= set(DERIVED)


def test_results_readme_lists_every_experiment_with_status_files_sources_and_deviations(study, reported, tmp_path):
    runs = load_runs(study)
    out = tmp_path / "results"
    render_tables(reported, runs, out / "tables")
    path = write_index(out / "README.md", reported, runs, REPO / "conf", "run records under runs/")
    text = path.read_text()
    presets = sorted(REPO.glob("conf/experiment/*/*.yaml"))
    assert len(presets) == 35  # the papers' 32 and the cross-scheme benchmark's compare/resnet_cifar, vggnet, wrn
    for preset in presets:
        assert f"| {preset.parent.name}/{preset.stem} " in text
    experiments = text.split("## Experiments")[1].split("## ")[0]
    status = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in experiments.splitlines()
              if line.startswith("| ") and "/" in line.split("|")[1]}
    assert status["repeatnet/table3"] == "partial: 4 of 7 rows at budget short 2ep (6 runs, 1 failed)"
    assert status["softshare/fig6"] == "reproduced at budget short 1ep (1 runs)"
    assert status["shardnet/table8"] == "reproduced at budget short 1ep (2 runs)"  # quoted rows do not count
    assert status["softshare/table1"] == "not run" and status["shardnet/fig4"] == "not run"
    assert "[repeatnet_table3.md](tables/repeatnet_table3.md)" in text
    assert "- devices (runs): NVIDIA H100 (15)" in text and "- run records: 15 (status: completed (14), failed (1))" \
        in text and "- budgets (runs): short 1ep (9), short 2ep (6)" in text
    deviations = text.split("## Largest deviations")[1]
    first = [line for line in deviations.splitlines() if line.startswith("| repeatnet")][0]
    assert "RepeatNet C4" in first and "+39.60" in first  # gain 55.0 vs 15.4 is the largest gap in points


def test_report_cli_writes_the_index(records, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.report", "report", "--runs", str(records),
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "index: " in proc.stdout and "table: " not in proc.stdout
    assert "partial: 1 of" in (tmp_path / "out" / "README.md").read_text()


# ---- --source wandb: a fake wandb.Api holding what engine/tracking.py logs ----------------------------------

class FakeRun:
    """What W&B holds of one run: config = the resolved cfg, history = the logged epochs, summary = the
    summary.json scalars plus W&B's last value of every logged key."""

    def __init__(self, run_dir: Path, nested=()):
        summary = json.loads((run_dir / "summary.json").read_text())
        self._history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        self.summary = {**{k: v for k, v in summary.items() if not isinstance(v, (dict, list)) or k in nested},
                        **self._history[-1], "_step": self._history[-1]["epoch"], "_runtime": 3.0}
        budget = {k: v for k, v in summary["budget"].items() if k != "epochs"}
        self.config = {"tags": summary["tags"], "budget": budget, "seed": summary["seed"],
                       "trainer": {"epochs": summary["budget"]["epochs"]}}
        self.id, self.name = run_dir.name, summary["name"]
        self.url = f"https://wandb.ai/e/p/runs/{self.id}"

    def scan_history(self):
        return [{**line, "_step": line["epoch"], "_timestamp": 1.0} for line in self._history]


def test_wandb_source_gives_the_same_frames_as_the_local_records(study, monkeypatch):
    import wandb

    from repeatnet_repro.report.wandb_source import load_wandb

    fakes = [FakeRun(p.parent, nested=("reference", "analysis")) for p in sorted(study.rglob("summary.json"))]

    class Api:
        def runs(self, path):
            assert path == "e/p"
            return fakes

    monkeypatch.setattr(wandb, "Api", Api)
    runs, metrics = load_wandb("e", "p")
    assert list(runs.wandb_url[:1]) == ["https://wandb.ai/e/p/runs/e32"]
    order = lambda f, keys: f.sort_values(keys).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(order(runs.drop(columns=["wandb_id", "wandb_url"]), ["run_dir"]),
                                  order(load_runs(study), ["run_dir"]), check_like=True)
    pd.testing.assert_frame_equal(order(metrics, ["run_dir", "epoch"]),
                                  order(load_metrics(study), ["run_dir", "epoch"]), check_like=True)


def test_wandb_source_errors_are_one_line_and_exit_2(monkeypatch, capsys):
    import wandb

    from repeatnet_repro.report.__main__ import main

    monkeypatch.setattr(sys, "argv", ["report", "tables", "--source", "wandb", "--entity", "e"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("error: --source wandb needs --entity E and --project P (the W&B project "
                                       "the runs logged to)\n")

    def not_logged_in():
        raise wandb.errors.UsageError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])")

    monkeypatch.setattr(wandb, "Api", not_logged_in)
    monkeypatch.setattr(sys, "argv", ["report", "tables", "--source", "wandb", "--entity", "e", "--project", "p"])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "cannot read runs of e/p (UsageError: api_key not configured" in err and "wandb login" in err


def test_a_cell_takes_only_the_runs_at_the_largest_budget_of_its_row(tmp_path, reported):
    root = tmp_path / "runs"
    t1 = dict(paper="softshare", item="table1", row="WRN 28-10", dataset="cifar10")
    record(root, "full", accs=[90.0, 95.0], **t1)
    record(root, "smoke", accs=[10.0], seed=1, **t1)
    line = cell(build_table("softshare", "table1", reported, load_runs(root)), "WRN 28-10", "error@cifar10")
    assert line["n"] == 1 and line["mean"] == pytest.approx(5.0)
