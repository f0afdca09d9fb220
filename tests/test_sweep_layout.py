"""One sweep, one folder: <runs_dir>/<experiment or multirun>/<sweep>/<job named by its overrides>, and
rerunning the same command resumes every job in it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, read_metrics, read_summary, run_entrypoint
from repeatnet_repro.engine.sweep_layout import MAX_NAME, job_name

pytestmark = pytest.mark.slow

#: the demo preset, swept over two sharing schemes: long enough to be stopped in its second job
SWEEP = ["-m", "experiment=demo", "sharing=none,hard", "trainer.epochs=12", "schedule.milestones=[4]",
         "model.widths=[16,32]", "logger=none", "trainer.progress=false", "trainer.device=cpu"]


def sweep_process(runs):
    return subprocess.Popen([sys.executable, "-m", "repeatnet_repro.train", *SWEEP, f"paths.runs_dir={runs}"],
                            cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_preset_sweep_is_one_folder_and_rerunning_the_command_resumes_each_job(tmp_path):
    runs = tmp_path / "runs"
    folder = runs / "demo" / "paper"  # <experiment>/<sweep: the budget's name>
    jobs = {s: folder / f"model.widths=[16,32],schedule.milestones=[4],sharing={s},trainer.epochs=12"
            for s in ("none", "hard")}
    proc = sweep_process(runs)
    deadline = time.time() + 240
    while not (jobs["hard"] / "metrics.jsonl").exists() or not read_metrics(jobs["hard"]):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # stopped in the second job
    assert proc.wait(timeout=120) == 143
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(j.name for j in jobs.values()), "multirun.yaml"])
    assert read_summary(jobs["none"])["status"] == "completed"
    assert read_summary(jobs["hard"])["status"] == "interrupted"

    again = run_entrypoint(*SWEEP, f"paths.runs_dir={runs}")  # the same command
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(j.name for j in jobs.values()), "multirun.yaml"])
    done, resumed = read_summary(jobs["none"]), read_summary(jobs["hard"])
    assert len(done["attempts"]) == 1, "a completed job is left as it is"
    assert resumed["status"] == "completed" and len(resumed["attempts"]) == 2
    assert resumed["attempts"][1]["epochs"][0] > 1, "the second attempt resumed after the epochs already done"
    assert [m["epoch"] for m in read_metrics(jobs["hard"])] == list(range(1, 13))
    assert "resuming" in again.stderr + again.stdout


def test_a_job_is_named_by_what_it_computes_not_by_where_or_how_it_runs():
    overrides = ["experiment=shardnet/table7a", "budget=smoke", "row=shardnet/table7a/eb_resnet_b3", "seed=0",
                 "logger=none", "trainer.progress=false", "trainer.device=cuda:1", "paths.runs_dir=/x"]
    assert job_name(overrides, "shardnet/table7a") == "row=eb_resnet_b3,seed=0"
    assert job_name(list(reversed(overrides)), "shardnet/table7a") == "row=eb_resnet_b3,seed=0", "any order"
    assert job_name(["seed=1", "trainer.epochs=20", "analysis=[fold]"]) == "analysis=[fold],seed=1,trainer.epochs=20"
    assert job_name(["optimizer.lr=0.1"]) != job_name(["optimizer.lr=0.2"])
    long = [f"model.key{i}=value{i}" for i in range(40)]
    assert len(job_name(long)) <= MAX_NAME and job_name(long) != job_name(long[:-1])
