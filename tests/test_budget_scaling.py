"""A budget scales the paper's protocol: epochs and every schedule epoch shrink by `budget.epoch_scale`,
halves rounded up, and every schedule ends where the paper's ends: the last epoch of a run of two epochs or
more trains at the paper's last learning rate, whatever the scale."""
from __future__ import annotations

import json

import pytest

from conftest import FAST, run_entrypoint
import torch

from repeatnet_repro.engine.optim import SCHEDULES, EpochPlan, scaled_epoch


@pytest.mark.parametrize("epoch, scale, expected", [(15, 0.1, 2), (25, 0.1, 3), (30, 0.1, 3), (1, 0.01, 1),
                                                    (60, 0.05, 3), (200, 0.0125, 3), (5, 0.5, 3)])
def test_a_scaled_epoch_rounds_halves_up_and_is_at_least_one(epoch, scale, expected):
    assert scaled_epoch(epoch, scale) == expected


def test_a_tenth_of_a_30_epoch_step_schedule_ends_at_the_papers_last_lr(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_entrypoint(*FAST, "trainer.epochs=30", "schedule=multistep", "schedule.milestones=[15,25]",
                          "schedule.gamma=0.2", "budget.epoch_scale=0.1", "budget.max_train_batches=2",
                          "budget.max_eval_batches=1", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    lrs = [json.loads(line)["lr"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # milestones 15, 25 of 30 -> epoch 2 of 3 (25 -> 3 would fall after the run): both decays before the last
    assert lrs == pytest.approx([0.05, 0.05, 0.05 * 0.2 ** 2])


def lrs(schedule: dict, paper: int, planned: int) -> list:
    """The lr each epoch of a run of `planned` epochs trains at, for a paper protocol of `paper` epochs."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = SCHEDULES.build(schedule, opt, EpochPlan(paper, planned), skip=2)
    out = []
    for _ in range(planned):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(0.0)
    return out


SCHEDULE_KINDS = [
    ({"name": "multistep", "milestones": [60, 120, 160], "gamma": 0.2}, 200),  # soft sharing, WRNs
    ({"name": "multistep", "milestones": [60, 120, 180], "gamma": 0.2}, 200),  # RepeatNet
    ({"name": "multistep", "milestones": [15, 25], "gamma": 0.1}, 30),
    ({"name": "multistep", "milestones": [30, 60], "gamma": 0.1}, 90),  # ImageNet
    ({"name": "exponential", "gamma": 0.8, "start_epoch": 10}, 30),  # RepeatNet's rot-MNIST
    ({"name": "exponential", "gamma": 0.95, "start_epoch": 1}, 40),
    ({"name": "constant"}, 50),
]


@pytest.mark.parametrize("schedule, paper", SCHEDULE_KINDS, ids=lambda v: v["name"] if isinstance(v, dict) else str(v))
@pytest.mark.parametrize("scale", [0.05, 0.1, 1 / 6, 0.15, 0.25, 0.5, 0.75, 1.0])
def test_every_schedule_ends_at_the_papers_last_lr_at_any_scale(schedule, paper, scale):
    planned = scaled_epoch(paper, scale)
    if planned < 2:
        pytest.skip("a one-epoch run trains at the initial lr only")
    assert lrs(schedule, paper, planned)[-1] == pytest.approx(lrs(schedule, paper, paper)[-1], rel=1e-9)


def test_the_rot_mnist_protocol_at_a_sixth_anneals_to_the_papers_last_lr():
    """Table 3's 30 epochs at 5: the decay starts at epoch 2 of 5 and reaches 1e-3 * 0.8**20 = 1.15e-5."""
    schedule = {"name": "exponential", "gamma": 0.8, "start_epoch": 10}
    short = lrs(schedule, 30, 5)
    assert short[:2] == [1.0, 1.0] and short[-1] == pytest.approx(0.8 ** 20)
    assert all(a > b for a, b in zip(short[1:], short[2:])), "it decays every epoch from the scaled start"


def test_a_plateau_schedules_patience_scales_with_the_budget():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = SCHEDULES.build({"name": "plateau", "patience": 10, "factor": 0.1}, opt, EpochPlan(100, 30), skip=2)
    assert sched.scheduler.patience == 3
