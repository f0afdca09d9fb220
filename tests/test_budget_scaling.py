"""A budget scales the paper's protocol: epochs and every schedule epoch shrink by `budget.epoch_scale`,
halves rounded up, so the milestones of a 30-epoch schedule stay distinct and in order on a 3-epoch run."""
from __future__ import annotations

import json

import pytest

from conftest import FAST, run_entrypoint
from repeatnet_repro.engine.optim import scaled_epoch


@pytest.mark.parametrize("epoch, scale, expected", [(15, 0.1, 2), (25, 0.1, 3), (30, 0.1, 3), (1, 0.01, 1),
                                                    (60, 0.05, 3), (200, 0.0125, 3), (5, 0.5, 3)])
def test_a_scaled_epoch_rounds_halves_up_and_is_at_least_one(epoch, scale, expected):
    assert scaled_epoch(epoch, scale) == expected


def test_a_tenth_of_a_30_epoch_step_schedule_decays_once_per_milestone(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_entrypoint(*FAST, "trainer.epochs=30", "schedule=multistep", "schedule.milestones=[15,25]",
                          "schedule.gamma=0.2", "budget.epoch_scale=0.1", "budget.max_train_batches=2",
                          "budget.max_eval_batches=1", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    lrs = [json.loads(line)["lr"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # milestones 15, 25 of 30 -> epochs 2, 3 of 3: one decay after epoch 2 (round() would fold both onto 2)
    assert lrs == pytest.approx([0.05, 0.05, 0.01])
