"""notebooks/explore_runs.ipynb runs top to bottom on fixture run records (RR_RUNS) and shows its outputs:
a paper preset's runs as that paper's table, runs no preset tags as groups of config values (RR_BY)."""
from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

from conftest import REPO
from test_report_compare import sweep_run


def execute(runs, monkeypatch, **env) -> list:
    """The notebook's code cells after running it on the records under `runs`."""
    monkeypatch.setenv("RR_RUNS", str(runs))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(REPO / "notebooks" / "explore_runs.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code[1:]), [c.source[:40] for c in code if not c.outputs]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    return code


def images(code) -> int:
    return len([o for c in code for o in c.outputs if "image/png" in o.get("data", {})])


def test_explore_runs_notebook_executes_on_fixture_records(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "swrn"
    (run / "artifacts" / "lsm").mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "status": "completed", "tags": {"paper": "softshare", "item": "fig8", "row": "SWRN 40-8-8"},
        "dataset": "cifar10", "seed": 0, "budget": {"name": "smoke", "epochs": 2}, "final": {"test_acc": 60.0}}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "test_acc": 50.0 + 10 * e}) + "\n"
                                               for e in (1, 2)))
    (run / "artifacts" / "lsm" / "epoch_002.json").write_text(json.dumps({"epoch": 2, "banks": {
        f"stage{s}": {"layers": ["a", "b"], "lsm": [[1.0, 0.3], [0.3, 1.0]], "coefficients": [[1, 0], [0.3, 1]]}
        for s in (1, 2, 3)}}))
    code = execute(tmp_path / "runs", monkeypatch)
    table = code[2].outputs[0]["data"]["text/plain"]
    assert "SWRN 40-8-8" in table and "60.0" in table
    assert images(code) == 2  # the learning curve and the LSM heatmap
    assert "epoch_002.json" in "".join(o.get("text", "") for o in code[4].outputs)


def test_runs_tagged_with_no_paper_preset_are_grouped_by_config_keys(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    sweep_run(root, "a", sharing="none", width=16, seed=0, accs=[80.0, 90.0])
    sweep_run(root, "b", sharing="none", width=16, seed=1, accs=[84.0, 92.0])
    sweep_run(root, "c", sharing="soft", width=16, seed=0, accs=[70.0, 95.0])
    code = execute(root, monkeypatch, RR_BY="sharing.name")
    table = code[2].outputs[0]["data"]["text/plain"]
    assert "sharing.name" in table and "91.00 ± 1.41" in table and "95.00" in table
    assert images(code) == 1  # the learning curve; there is no LSM
    assert "no LSM under" in "".join(o.get("text", "") for o in code[4].outputs)
