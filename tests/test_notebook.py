"""notebooks/explore_runs.ipynb runs top to bottom on fixture run records (RR_RUNS) and shows its outputs."""
from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

from conftest import REPO


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
    monkeypatch.setenv("RR_RUNS", str(tmp_path / "runs"))
    nb = nbformat.read(REPO / "notebooks" / "explore_runs.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs for c in code[1:]), [c.source[:40] for c in code if not c.outputs]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    table = code[2].outputs[0]["data"]["text/plain"]
    assert "SWRN 40-8-8" in table and "60.0" in table
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the learning curve and the LSM heatmap
    assert "epoch_002.json" in "".join(o.get("text", "") for o in code[4].outputs)
