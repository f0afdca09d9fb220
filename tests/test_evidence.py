"""The evidence runs are one command each: scripts/evidence.py (CPU studies, resumable lanes) and
scripts/gpu_evidence.sh (the paper budgets on one GPU), whose `--cpu` dry run trains every GPU command as its
smoke run on stand-in data."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import evidence  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_cpu_studies_train_the_fixed_protocols_at_their_stated_budgets():
    where = evidence.Where(Path("/runs"))
    table3 = [evidence.command(r, where) for r in evidence.STUDIES["repeatnet_table3_c4"]]
    assert [c[c.index("-m") + 3] for c in table3] == [f"row=repeatnet/table3/{r}" for r in
                                                      ("vanilla_cnn", "re_cnn_c4", "repeatnet_c4")]
    assert all("seed=42" in c and "dataset.variant=rotated" in c and not any(o.startswith("budget") for o in c)
               for c in table3), "the paper's whole protocol: its budget, its seed"
    table1 = [evidence.command(r, where) for r in evidence.STUDIES["repeatnet_table1_short"]]
    assert all("budget=short" in c and "dataset.format=folder" in c for c in table1)
    assert all("trainer.checkpoint_every=1" in c and "trainer.device=cpu" in c for c in table1 + table3)


def test_the_gpu_studies_are_the_papers_budgets_on_cuda():
    where = evidence.Where(Path("/runs"), device="cuda")
    runs = [r for study in evidence.GPU_STUDIES.values() for r in study]
    assert len(runs) == 7 + 3 + 14
    commands = [evidence.command(r, where) for r in runs]
    assert all("trainer.device=cuda" in c and not any(o.startswith("budget") for o in c) for c in commands)


def test_the_gpu_script_dry_runs_every_study_on_the_cpu_and_a_rerun_skips_what_completed(tmp_path):
    out = tmp_path / "gpu"
    command = [sys.executable, str(REPO / "scripts" / "evidence.py"), "run", "--gpu", "--tiny", "--first", "1",
               "--out", str(out)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summaries = sorted(out.glob("*/*/summary.json"))
    assert [p.parent.parent.name for p in summaries] == sorted(evidence.GPU_STUDIES)
    assert {json.loads(p.read_text())["status"] for p in summaries} == {"completed"}
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "start" not in again.stdout, "completed runs are skipped"
    status = subprocess.run([*command[:2], "status", *command[3:]], cwd=REPO, capture_output=True, text=True)
    assert status.stdout.count("completed") == 3


def test_an_unknown_study_is_one_error_line():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "evidence.py"), "list", "--study", "table9"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "--study table9: no such study" in proc.stderr
