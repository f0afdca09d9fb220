"""torchrun + DDP on CPU (gloo): 2 processes follow the single-process run; only rank 0 writes the record,
which states the world size and the global images/s, and logs each line once; post-training analyses run
on every rank and evaluate the whole test set."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FAST, REPO, read_metrics, read_summary, run_entrypoint

pytestmark = pytest.mark.slow
SETUP = [*FAST, "trainer.epochs=2", "model.widths=[16,32]", "sharing=soft", "analysis=[fold,lsm]"]


def test_two_gloo_processes_match_one_process_within_tolerance(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    assert torchrun.exists() or shutil.which("torchrun")
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "repeatnet_repro.train",
                           *SETUP, f"hydra.run.dir={ddp_dir}"], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert run_entrypoint(*SETUP, f"hydra.run.dir={single_dir}").returncode == 0

    ddp, single = read_metrics(ddp_dir), read_metrics(single_dir)
    assert [m["epoch"] for m in ddp] == [1, 2]  # rank 0 alone wrote: no duplicated lines
    # same data order and initial weights; only BatchNorm batch statistics are per rank
    assert ddp[0]["train_loss"] == pytest.approx(single[0]["train_loss"], rel=0.03)
    assert ddp[-1]["train_acc"] == pytest.approx(single[-1]["train_acc"], abs=10.0)
    summary = read_summary(ddp_dir)
    assert summary["status"] == "completed"
    assert summary["world_size"] == 2 and read_summary(single_dir)["world_size"] == 1
    # images/s is the global rate: both ranks' images over rank 0's seconds, so rate x seconds is the whole
    # training set (each rank's half, padded to equal halves), as in the single-process run
    images = [round(m["train_images_per_s"] * m["train_seconds"]) for m in (ddp[0], single[0])]
    assert images[0] == pytest.approx(images[1], abs=1), images
    assert summary["params"] == read_summary(single_dir)["params"]
    assert set(summary["analysis"]) == {"fold", "lsm"} and not summary["analysis_errors"]
    # the unfolded baseline is the model the last epoch tested: the ranks' halves of the test set summed
    assert summary["analysis"]["fold"]["baseline"]["test_acc"] == pytest.approx(summary["final"]["test_acc"])
    assert sorted(p.name for p in (ddp_dir / "artifacts" / "analysis").iterdir()) == ["fold.json", "lsm.json"]
    # every line is logged once, by rank 0: on the console and in the run's log file the ranks share
    for said in (proc.stdout + proc.stderr, (ddp_dir / "train.log").read_text()):
        assert said.count("epoch 1/2  train loss") == 1 and said.count("analysis fold") == 1, said[-2000:]
        assert said.count("run record:") == 1
