"""The run record under stress: killed, terminated, diverged, shared with other users, offline W&B.

Whatever happens to a run, its record says what happened (status, attempts, time), stays valid JSON, keeps
the last good checkpoint, and the same command resumes it exactly.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import FAST, REPO, read_metrics, read_summary
from repeatnet_repro.config import compose
from repeatnet_repro.engine import loop, trainer
from repeatnet_repro.engine.run_record import HEARTBEAT_S, git_commit, live_status, now
from repeatnet_repro.report.collect import load_runs

pytestmark = pytest.mark.slow

SLOW_ENOUGH = [*FAST, "trainer.epochs=8", "trainer.deterministic=true", "schedule.milestones=[4]"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}


def start(run_dir, *extra, env=None, **popen):
    return subprocess.Popen([sys.executable, "-m", "repeatnet_repro.train", *SLOW_ENOUGH, *extra,
                             f"hydra.run.dir={run_dir}"], cwd=REPO, env={**os.environ, **ONE_THREAD, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_for_epochs(run_dir, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "metrics.jsonl").exists() and len((run_dir / "metrics.jsonl").read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} epochs within {timeout} s")


def strict_json_lines(path):
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")
    return [json.loads(line, parse_constant=no_constants) for line in path.read_text().splitlines()]


def test_kill_9_mid_run_reads_as_interrupted_and_the_rerun_ends_exactly_where_a_straight_run_does(tmp_path):
    straight = start(tmp_path / "straight")
    killed_dir = tmp_path / "killed"
    killed = start(killed_dir)
    wait_for_epochs(killed_dir, 3, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert straight.wait() == 0, straight.stderr.read()

    summary = read_summary(killed_dir)
    assert summary["status"] == "running", "nobody was left to write otherwise"
    assert live_status(summary, killed_dir) == "interrupted", "its lock died with it"
    assert load_runs(killed_dir).status.tolist() == ["interrupted"], "the report shows it as interrupted"
    (killed_dir / ".summary.json.stale123.tmp").write_text("{half a summ")  # as a write cut short leaves

    rerun = start(killed_dir)
    out, err = rerun.communicate()
    assert rerun.returncode == 0, err
    assert not list(killed_dir.rglob(".*.tmp")), "the temp files a killed writer left are removed"
    resumed, reference = read_metrics(killed_dir), read_metrics(tmp_path / "straight")
    assert [m["epoch"] for m in resumed] == list(range(1, 9))
    for a, b in zip(resumed, reference):
        assert (a["train_loss"], a["test_loss"], a["test_acc"]) == (b["train_loss"], b["test_loss"], b["test_acc"])
    summary = read_summary(killed_dir)
    assert [a["status"] for a in summary["attempts"]] == ["interrupted", "completed"]
    assert summary["wall_time_s"] == pytest.approx(sum(a["seconds"] for a in summary["attempts"]))


def test_sigterm_ends_the_run_as_interrupted_and_the_same_command_resumes(tmp_path):
    run_dir = tmp_path / "run"
    proc = start(run_dir)
    wait_for_epochs(run_dir, 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("interrupted: the run record in")
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted" and summary["attempts"][0]["status"] == "interrupted"
    assert live_status(summary, run_dir) == "interrupted"
    done = start(run_dir)
    assert done.wait() == 0, done.stderr.read()
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["epochs_done"] == 8
    assert len(summary["attempts"]) == 2


def test_a_sigterm_while_an_epoch_is_committed_waits_until_its_row_and_checkpoint_are_written():
    committed = []
    with pytest.raises(trainer.Interrupted), trainer.sigterm_interrupts():
        with trainer.epoch_commit():
            os.kill(os.getpid(), signal.SIGTERM)
            committed.append("metrics row")
            committed.append("checkpoint")
    assert committed == ["metrics row", "checkpoint"]
    with trainer.sigterm_interrupts():  # the deferred signal was consumed: the next run starts clean
        with trainer.epoch_commit():
            committed.append("next epoch")
    assert committed[-1] == "next epoch"


def test_a_record_calls_its_commit_dirty_for_changed_code_not_for_what_runs_wrote_under_results(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "model.py").write_text("width = 16\n")
    (tmp_path / "results" / "train_cpu.json").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    (tmp_path / "results" / "train_cpu.json").write_text('{"ratio": 2}\n')
    assert len(git_commit(tmp_path)) == 40, "a benchmark that rewrote its own record"
    (tmp_path / "model.py").write_text("width = 32\n")
    assert git_commit(tmp_path).endswith("+dirty")


def test_record_files_follow_the_umask_so_a_shared_results_dir_stays_readable(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.train", *FAST, "budget=smoke",
                           f"hydra.run.dir={run_dir}"], cwd=REPO, env={**os.environ, **ONE_THREAD},
                          capture_output=True, text=True, preexec_fn=lambda: os.umask(0o027))
    assert proc.returncode == 0, proc.stderr
    for name in ("summary.json", "metrics.jsonl", "config.yaml", "checkpoints/last.pt"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o640, name


def test_a_non_finite_test_loss_stops_before_saving_and_writes_strict_json(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    cfg = compose([*FAST, "trainer.epochs=3"])
    real_evaluate = trainer.evaluate
    calls = {"n": 0}

    def diverging(*args, **kwargs):
        calls["n"] += 1
        out = real_evaluate(*args, **kwargs)
        return {**out, "loss": float("nan")} if calls["n"] >= 2 else out

    saved = {}
    real_save = trainer.save_checkpoint

    def save(path, state):
        saved[state["epoch"]] = True
        real_save(path, state)

    monkeypatch.setattr(trainer, "evaluate", diverging)
    monkeypatch.setattr(trainer, "save_checkpoint", save)
    with pytest.raises(loop.NonFiniteLossError, match="test_loss not finite after epoch 2; the checkpoint of epoch 1"):
        trainer.train(cfg, run_dir)
    assert list(saved) == [1], "the diverged weights are never saved"
    rows = strict_json_lines(run_dir / "metrics.jsonl")
    assert rows[1]["test_loss"] is None and rows[1]["nonfinite"] == ["test_loss"]
    summary = json.loads((run_dir / "summary.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert summary["status"] == "failed" and summary["epochs_done"] == 1


def test_live_status_believes_running_only_while_the_writer_lives(tmp_path):
    elsewhere = {"status": "running", "host": "another-host", "heartbeat": now()}
    assert live_status(elsewhere, tmp_path) == "running", "a fresh heartbeat from another host"
    stale = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 4 * HEARTBEAT_S))
    assert live_status({**elsewhere, "heartbeat": stale}, tmp_path) == "interrupted"
    assert live_status({"status": "completed"}, tmp_path) == "completed"

    import fcntl

    here = {"status": "running", "host": socket.gethostname(), "heartbeat": stale}
    (tmp_path / ".lock").write_text("pid 1")
    assert live_status(here, tmp_path) == "interrupted", "nobody holds the lock"
    with open(tmp_path / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert live_status(here, tmp_path) == "running", "the writer holds the lock, whatever its heartbeat"


def test_the_heartbeat_is_refreshed_while_an_epoch_runs(tmp_path, monkeypatch):
    from repeatnet_repro.engine import run_record

    beats = []
    real_update = run_record.RunRecord.update_summary

    def watch(self, **fields):
        if "heartbeat" in fields and len(fields) == 1:
            beats.append(fields["heartbeat"])
        return real_update(self, **fields)

    monkeypatch.setattr(run_record, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(run_record.RunRecord, "update_summary", watch)
    trainer.train(compose([*FAST, "trainer.epochs=2"]), tmp_path / "run")
    assert beats, "the heartbeat thread wrote while training"


class Blackhole(threading.Thread):
    """A server that accepts connections and never answers: W&B online with no reachable server."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []

    def run(self):
        while True:
            conn, _ = self.sock.accept()
            self.held.append(conn)


def test_wandb_online_without_a_server_waits_a_few_seconds_once_per_sweep_and_logs_offline(tmp_path):
    server = Blackhole()
    server.start()
    sweep = tmp_path / "sweep"
    env = {**os.environ, **ONE_THREAD, "WANDB_BASE_URL": f"http://127.0.0.1:{server.port}",
           "WANDB_API_KEY": "a" * 40, "WANDB_SILENT": "true"}
    began = time.time()
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.train", "-m",
                           *[o for o in FAST if o != "logger=none"], "logger=wandb", "logger.mode=online",
                           "budget=smoke", "seed=0,1", f"hydra.sweep.dir={sweep}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    took = time.time() - began
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout + proc.stderr
    assert said.count("W&B online did not answer within 8 s") == 1, said
    assert said.count("W&B online was unreachable earlier in this sweep") == 1, said
    jobs = [d for d in sweep.iterdir() if d.is_dir()]
    assert len(jobs) == 2
    for job in jobs:
        assert read_summary(job)["status"] == "completed"
        assert list((job / "wandb").glob("offline-run-*")), "logged offline, to `wandb sync` later"
    assert took < 120, f"the sweep took {took:.0f} s"
