"""Sweeps on a real one-node SLURM cluster (`.ci/slurm_up.sh` starts one; CI runs it before the suite) through
`hydra/launcher=slurm`: each job lands in its own run dir, and a job that SLURM stops (requeued, out of time,
cancelled) resumes from its last checkpoint in that run dir, the record counting every attempt. Without a
cluster these tests skip, saying how to start one.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FAST, REPO, read_metrics, read_summary


def _no_cluster() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if shutil.which("sinfo") is None:
        return "no SLURM here (sinfo not found); start a one-node cluster with `sudo .ci/slurm_up.sh`"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return f"SLURM does not answer ({err}); start it with `sudo .ci/slurm_up.sh`"
    if not re.search(r"^(idle|mixed|allocated)", states, re.M):
        return f"no SLURM node is up (sinfo: {states.split() or 'nothing'}); start one with `sudo .ci/slurm_up.sh`"
    return None


#: one xdist worker runs them one after another (`--dist loadgroup`): their jobs share the node's 2 CPUs, and the
#: time-limit test's timing must not wait on another test's jobs
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("slurm"),
              pytest.mark.skipif(bool(_no_cluster()), reason=_no_cluster() or "")]

#: a few-second epoch of the digits model, deterministic, so a resumed run ends exactly where a straight one does
RUN = [*FAST, "model.widths=[8,16]", "trainer.deterministic=true", "schedule.milestones=[2]"]
#: one CPU per job: two jobs share the 2-CPU node
SLURM = ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1"]
#: exported to the jobs too (sbatch passes the submitting environment on)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0"}


STARTED: list[subprocess.Popen] = []


def train(*args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "repeatnet_repro.train", *args], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED.append(proc)
    return proc


def sweep(runs: Path, *overrides: str) -> subprocess.Popen:
    return train(*SLURM, *RUN, f"paths.runs_dir={runs}", *overrides)


def local_run(run_dir: Path, *overrides: str) -> subprocess.Popen:
    """The same run without SLURM, uninterrupted: the reference a resumed job must end equal to."""
    return train(*RUN, f"hydra.run.dir={run_dir}", *overrides)


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path):
    """A failed test leaves no sweep process and no SLURM job behind (they would hold the node's CPUs)."""
    yield
    running = [proc for proc in STARTED if proc.poll() is None]
    for proc in running:
        proc.kill()
        proc.communicate()
    STARTED.clear()
    for folder in tmp_path.rglob(".submitit") if running else []:
        ids = [p.name for p in folder.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)]
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def run_dir(runs: Path, seed: int) -> Path:
    """The run dir of the sweep's job of this seed (named by its overrides, engine/sweep_layout.py), once made."""
    folder = runs / "multirun" / "paper"  # the sweep's folder: no experiment, the budget's name
    found = [p for p in folder.iterdir() if f",seed={seed}," in f",{p.name},"] if folder.is_dir() else []
    assert len(found) <= 1, found
    return found[0] if found else folder / f"<the job of seed {seed}>"


def slurm_jobs(runs: Path) -> list[str]:
    """The SLURM ids of the sweep's jobs (`<array>_<index>`, or `<id>` alone), from submitit's folder inside the
    sweep folder."""
    folder = runs / "multirun" / "paper" / ".submitit"
    ids = sorted(p.name for p in folder.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)) if folder.is_dir() else []
    return [i for i in ids if "_" in i] or ids  # an array's own folder holds no job


def states(slurm_id: str, timeout: float = 60) -> list[str]:
    """The states of every run of a SLURM job, as accounting (sacct) recorded them, once the job has ended (a
    sweep has its result while the job's script is still finishing)."""
    deadline = time.time() + timeout
    while True:
        out = subprocess.run(["sacct", "-n", "-X", "-D", "-P", "-j", slurm_id, "-o", "State"], capture_output=True,
                             text=True, timeout=30).stdout
        found = [line.split()[0] for line in out.splitlines() if line.strip()]
        if found and found[-1] not in ("PENDING", "RUNNING", "COMPLETING") or time.time() > deadline:
            return found
        time.sleep(0.5)


def wait_until(what, proc: subprocess.Popen, timeout: float = 180, every: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = what()
        if found:
            return found
        assert proc.poll() is None, finish(proc)
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {what.__doc__ or what}")


def epochs_done(runs: Path, seed: int, n: int):
    def done():
        job = run_dir(runs, seed)
        return job if (job / "metrics.jsonl").exists() and len(read_metrics(job)) >= n else None
    done.__doc__ = f"the job of seed {seed} has done {n} epochs"
    return done


def assert_resumed_once(job: Path, epochs: int) -> dict:
    """Completed in two attempts, the second from the first one's checkpoint, no epoch twice."""
    summary = read_summary(job)
    assert summary["status"] == "completed", summary
    assert [a["status"] for a in summary["attempts"]] == ["interrupted", "completed"], summary["attempts"]
    assert summary["attempts"][1]["epochs"][0] > 1, "the second attempt resumed after the epochs already done"
    assert [m["epoch"] for m in read_metrics(job)] == list(range(1, epochs + 1))
    return summary


def assert_equal_runs(job: Path, straight: Path) -> None:
    a, b = read_summary(job)["final"], read_summary(straight)["final"]
    assert a["test_acc"] == b["test_acc"]
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
    assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-6)


def test_a_cancelled_job_fails_the_sweep_and_the_same_command_resumes_it_leaving_completed_jobs_alone(tmp_path):
    runs = tmp_path / "runs"
    command = ["seed=0,1", "trainer.epochs=6"]
    proc = sweep(runs, *command)
    wait_until(epochs_done(runs, 1, 1), proc)
    jobs = [run_dir(runs, 0), run_dir(runs, 1)]
    ids = slurm_jobs(runs)
    assert len(ids) == 2, ids
    subprocess.run(["scancel", ids[1]], check=True)
    code, said = finish(proc)

    assert code == 1, said
    last = said.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 sweep jobs failed: job 1 (") and f"SLURM job {ids[1]} ended CANCELLED" in last
    assert "Traceback" not in said and "sacct error" not in said, "submitit polled the job states without trouble"
    assert read_summary(jobs[0])["status"] == "completed"
    assert read_summary(jobs[1])["status"] == "interrupted"
    folder = runs / "multirun" / "paper"
    assert sorted(p.name for p in folder.iterdir()) == sorted([".submitit", "multirun.yaml", *(j.name for j in jobs)])

    code, said = finish(sweep(runs, *command))  # the same command
    assert code == 0, said
    assert len(read_summary(jobs[0])["attempts"]) == 1, "a completed job is left as it was"
    assert_resumed_once(jobs[1], 6)


def test_a_job_requeued_while_it_trains_resumes_in_its_run_dir_and_ends_equal_to_an_uninterrupted_run(tmp_path):
    runs = tmp_path / "runs"
    straight = local_run(tmp_path / "straight", "seed=0", "trainer.epochs=6")
    proc = sweep(runs, "seed=0", "trainer.epochs=6", "logger=wandb")
    job = wait_until(epochs_done(runs, 0, 1), proc)
    (slurm_id,) = slurm_jobs(runs)
    subprocess.run(["scontrol", "requeue", slurm_id], check=True)  # what a preemption with requeue does
    code, said = finish(proc)
    assert code == 0, said
    assert finish(straight)[0] == 0

    assert_resumed_once(job, 6)
    assert states(slurm_id) == ["REQUEUED", "COMPLETED"]
    assert_equal_runs(job, tmp_path / "straight")
    run_id = (job / "wandb_id.txt").read_text().strip()
    offline = sorted(p.name for p in (job / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(name.endswith(f"-{run_id}") for name in offline), \
        "one W&B run per run dir: the requeued attempt continues the same run id"


def test_a_job_past_its_time_limit_is_requeued_and_when_the_retries_run_out_the_same_command_resumes_it(tmp_path):
    """timeout_min=2 and signal_delay_s=30: SLURM checks time limits every 30 s and sends submitit's signal up to
    30 s before it is due, so 60 to 90 s into a job and at least 30 s before the kill. The test pauses each job
    after its first epoch (SIGSTOP; SLURM sends SIGCONT with its signal), so the first attempt outlasts its limit
    however fast the machine is, and an attempt that resumes has a minute for its last epochs."""
    command = ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30", "seed=0", "trainer.epochs=4"]
    runs = {retries: tmp_path / f"retries{retries}" for retries in (1, 0)}
    procs = {r: sweep(runs[r], *command, f"hydra.launcher.max_num_timeout={r}") for r in runs}
    job, ids = {}, {}
    while len(job) < len(runs):  # pause each job's run as soon as its first epoch is recorded
        for r in set(runs) - set(job):
            found = epochs_done(runs[r], 0, 1)()
            if found:
                os.kill(read_summary(found)["pid"], signal.SIGSTOP)
                job[r], (ids[r],) = found, slurm_jobs(runs[r])
            assert procs[r].poll() is None, finish(procs[r])
        time.sleep(0.05)

    code, said = finish(procs[1])
    assert code == 0, said
    assert_resumed_once(job[1], 4)
    log = (runs[1] / "multirun" / "paper" / ".submitit" / ids[1] / f"{ids[1]}_0_log.err").read_text()
    assert "Caught signal SIGUSR2 on" in log and "this job is timed-out" in log, log[-3000:]
    assert states(ids[1]) == ["REQUEUED", "COMPLETED"], "submitit requeued it at its time limit"

    code, said = finish(procs[0])
    assert code == 1, said
    last = said.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 1 sweep jobs failed: job 0 (") and "interrupted (SIGUSR2)" in last, last
    log = (runs[0] / "multirun" / "paper" / ".submitit" / ids[0] / f"{ids[0]}_0_log.out").read_text()
    assert "Job not requeued because: timed-out too many times" in log, log[-3000:]
    assert states(ids[0]) == ["COMPLETED"], "not requeued: it ended with its outcome as its result"
    summary = read_summary(job[0])
    assert summary["status"] == "interrupted" and len(summary["attempts"]) == 1
    code, said = finish(sweep(runs[0], *command, "hydra.launcher.max_num_timeout=0"))  # the same command
    assert code == 0, said
    assert_resumed_once(job[0], 4)


def test_the_tasks_of_one_slurm_job_form_one_ddp_group_that_matches_one_process(tmp_path):
    setup = [*RUN, "trainer.epochs=2", "seed=0"]
    runs, single_dir = tmp_path / "runs", tmp_path / "single"
    single = train(*setup, f"hydra.run.dir={single_dir}")
    code, said = finish(train(*SLURM, "hydra.launcher.tasks_per_node=2", *setup, f"paths.runs_dir={runs}"))
    assert code == 0, said
    assert finish(single)[0] == 0

    job = run_dir(runs, 0)
    ddp, one = read_metrics(job), read_metrics(single_dir)
    assert [m["epoch"] for m in ddp] == [1, 2], "rank 0 alone wrote the record"
    # the tolerances of the torchrun test (tests/test_distributed.py): BatchNorm statistics are per rank
    assert ddp[0]["train_loss"] == pytest.approx(one[0]["train_loss"], rel=0.03)
    assert ddp[-1]["train_acc"] == pytest.approx(one[-1]["train_acc"], abs=10.0)
    summary = read_summary(job)
    assert summary["status"] == "completed" and summary["world_size"] == 2
    images = [round(m["train_images_per_s"] * m["train_seconds"]) for m in (ddp[0], one[0])]
    assert images[0] == pytest.approx(images[1], abs=1), "both tasks trained their half of every batch"
    log = (job / "train.log").read_text()
    assert log.count("epoch 1/2  train loss") == 1 and log.count("run record:") == 1, log[-2000:]
