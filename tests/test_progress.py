"""Progress of every long step: a bar on a terminal (data generation, training, test, held-out sets, the
analyses), a log line every LOG_EVERY_S seconds in a log file instead, nothing with trainer.progress=false."""
from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from conftest import FAST, REPO, read_metrics, read_summary, run_entrypoint
from repeatnet_repro.engine import progress

SHORTEST_PATHS = ["experiment=softshare/fig5", "row=softshare/fig5/cnn", "budget=smoke", "logger=none",
                  "trainer.device=cpu", "dataset.train_size=16", "dataset.heldout_size=8"]
SOFT_FOLD = [*FAST, "budget=smoke", "model.convs_per_stage=3", "sharing=soft", "analysis=[fold]"]


def on_a_terminal(*overrides: str) -> str:
    """What the entrypoint writes when its stdout and stderr are a terminal (a pseudo-terminal here)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "repeatnet_repro.train", *overrides], cwd=REPO, stdout=child,
                            stderr=child, env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    os.close(child)
    chunks = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child side closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert proc.wait(timeout=600) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    reader.join(timeout=10)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_on_a_terminal_data_generation_training_evaluation_and_held_out_sets_show_bars(tmp_path):
    said = on_a_terminal(*SHORTEST_PATHS, f"dataset.root={tmp_path / 'grids'}", f"hydra.run.dir={tmp_path / 'run'}")
    for bar in ("generating shortest paths (train", "generating shortest paths (heldout", "epoch 1/1:", "test:",
                "heldout1:", "heldout5:"):
        assert bar in said, bar


@pytest.mark.slow
def test_an_analysis_shows_a_bar_and_logs_each_point_and_progress_false_shows_none(tmp_path):
    said = on_a_terminal(*[o for o in SOFT_FOLD if o != "trainer.progress=false"], f"hydra.run.dir={tmp_path / 'a'}")
    assert "analysis fold:" in said and "fold: threshold 0.99 ->" in said and "fold: threshold 0.5 ->" in said
    quiet = on_a_terminal(*SOFT_FOLD, f"hydra.run.dir={tmp_path / 'b'}")
    assert "analysis fold:" not in quiet and "test:" not in quiet and "epoch 1/1:" not in quiet
    assert "fold: threshold 0.5 ->" in quiet, "the log lines stay"
    points = read_summary(tmp_path / "b")["analysis"]["fold"]["points"]
    assert [p["threshold"] for p in points] == [0.99, 0.5], "smoke: the first and last of the 7 thresholds"


def test_off_a_terminal_a_long_step_logs_a_line_now_and_then_and_a_short_one_none(monkeypatch, caplog):
    monkeypatch.setattr(progress, "_enabled", True)  # as a process starts (an in-process run may have said no)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.05)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    with caplog.at_level(logging.INFO, logger="repeatnet_repro"):
        for _ in progress.bar(range(3), desc="short step"):
            pass
        for _ in progress.bar(range(12), desc="long step", unit="phase"):
            time.sleep(0.02)
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "short step" in line]
    long = [line for line in lines if line.startswith("long step:")]
    assert 2 <= len(long) <= 8 and "12/12" in long[-1], lines
    assert len(set(long)) == len(long), "a line repeated by tqdm's close is logged once"


def test_progress_false_silences_every_bar_in_the_process(monkeypatch, caplog):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setattr(progress, "_enabled", True)
    progress.enable(False)
    with caplog.at_level(logging.INFO, logger="repeatnet_repro"):
        assert list(progress.bar(range(5), desc="anything")) == list(range(5))
    assert not caplog.records


def test_each_epoch_line_gives_its_lr_its_seconds_and_the_whole_runs_eta(tmp_path):
    """The line a job's log shows per epoch: enough to tell the schedule is right and when the run ends."""
    run_dir = tmp_path / "run"
    proc = run_entrypoint(*FAST, "trainer.epochs=3", "schedule=multistep", "schedule.milestones=[2]",
                          "schedule.gamma=0.1", "budget.max_train_batches=2", "budget.max_eval_batches=1",
                          f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    line = re.compile(r"epoch (\d)/3  train loss .* \(lr ([0-9.e-]+), \d+ img/s, ([0-9.]+) s, ETA (\d+:\d\d:\d\d)\)$")
    found = [m for m in map(line.search, (run_dir / "train.log").read_text().splitlines()) if m]
    assert [m[1] for m in found] == ["1", "2", "3"]
    metrics = read_metrics(run_dir)
    assert [float(m[2]) for m in found] == pytest.approx([r["lr"] for r in metrics], rel=1e-3) == [0.05, 0.05, 0.005]
    assert [float(m[3]) for m in found] == pytest.approx([r["seconds"] for r in metrics], abs=0.051)
    assert found[-1][4] == "0:00:00", "no epoch left"


@pytest.mark.parametrize("seconds, said", [(0, "0:00:00"), (59.6, "0:01:00"), (3 * 3600 + 5, "3:00:05"),
                                           (30 * 3600, "1d 6:00:00"), (-1, "0:00:00")])
def test_an_eta_past_a_day_counts_the_days_instead_of_wrapping(seconds, said):
    assert progress.duration(seconds) == said
