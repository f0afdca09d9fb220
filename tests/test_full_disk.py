"""A disk that fills up while a run trains, on a real (small) file system: the run ends `failed` with one line
naming the path and the space left, exit code 1 and no traceback; what it had written stays readable, and
the same command resumes it once there is space again."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import FAST, REPO, read_metrics, read_summary
from repeatnet_repro.engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

RUN = [*FAST, "trainer.epochs=6"]  # model.widths=[16,32]: a checkpoint of ~250 KB
#: what the filler leaves free: room for the metrics rows, the summary and log lines, not for a checkpoint
LEFT_FREE = 64 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs of its own (mounting needs root: skipped elsewhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def train(run_dir) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "repeatnet_repro.train", *RUN, f"hydra.run.dir={run_dir}"],
                            cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def fill(disk, leave: int):
    """A file taking all the space of `disk` but `leave` bytes."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return filler


def test_a_full_disk_ends_the_run_failed_in_one_line_and_freeing_space_resumes_it(small_disk):
    run_dir = small_disk / "run"
    proc = train(run_dir)
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    filler = fill(small_disk, LEFT_FREE)
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: no space left on device writing {run_dir}/checkpoints/last.pt ("), lines[0]
    assert "KiB free there)" in lines[0] and "rerun the same command to resume" in lines[0]
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and "No space left on device" in summary["error"], summary
    saved = load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"]  # the last good checkpoint loads
    rows = [m["epoch"] for m in read_metrics(run_dir)]
    assert 1 <= saved < 6 and rows[:saved] == list(range(1, saved + 1)), (saved, rows)
    assert not list(run_dir.rglob(".*.tmp")), "the failed write left no temp file"

    filler.unlink()
    rerun = train(run_dir)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    summary = read_summary(run_dir)
    assert [a["status"] for a in summary["attempts"]] == ["failed", "completed"]
    assert summary["attempts"][1]["epochs"] == [saved + 1, 6], "resumed after the last good checkpoint"
    assert [m["epoch"] for m in read_metrics(run_dir)] == list(range(1, 7))
