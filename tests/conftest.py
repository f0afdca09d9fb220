"""Shared helpers: run the real entrypoint in a subprocess, or compose configs in-process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per worker: the workers already use every core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

#: a fast digits run: small CNN, CPU, no tracker, no progress bar
FAST = ["logger=none", "trainer.progress=false", "trainer.device=cpu", "dataset=digits",
        "model=convnet", "model.widths=[16,32]", "trainer.batch_size=64", "optimizer.lr=0.05"]


def run_entrypoint(*overrides: str, module: str = "repeatnet_repro.train", timeout: int = 600,
                   env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "0",
                **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *overrides], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def read_metrics(run_dir: Path) -> list:
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def fast_overrides():
    return list(FAST)
