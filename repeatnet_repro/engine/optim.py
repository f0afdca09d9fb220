"""Optimisers and learning-rate schedules, found by name; schedules scale with the run's budget."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, List, Optional

import torch
from torch import nn

from ..registry import Range, Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("schedule")


def param_groups(model: nn.Module, weight_decay: float) -> List[dict]:
    """Weight decay everywhere except on what the sharing banks declare exempt (soft coefficients)."""
    sharing = getattr(model, "sharing", None)
    exempt = {id(p) for p in sharing.no_decay_parameters()} if sharing is not None else set()
    decay = [p for p in model.parameters() if p.requires_grad and id(p) not in exempt]
    no_decay = [p for p in model.parameters() if p.requires_grad and id(p) in exempt]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _fused(device: torch.device) -> Optional[bool]:
    return True if device.type == "cuda" else None


@OPTIMIZERS.register("sgd")
def sgd(model: nn.Module, device: torch.device, lr: Annotated[float, Range(gt=0)] = 0.1, momentum: Annotated[float, Range(ge=0, lt=1)] = 0.9,
        weight_decay: Annotated[float, Range(ge=0)] = 5e-4, nesterov: bool = False) -> torch.optim.Optimizer:
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum,
                           nesterov=nesterov, fused=_fused(device))


@OPTIMIZERS.register("adam")
def adam(model: nn.Module, device: torch.device, lr: Annotated[float, Range(gt=0)] = 1e-3, weight_decay: Annotated[float, Range(ge=0)] = 0.0,
         beta1: Annotated[float, Range(ge=0, lt=1)] = 0.9, beta2: Annotated[float, Range(ge=0, lt=1)] = 0.999) -> torch.optim.Optimizer:
    return torch.optim.Adam(param_groups(model, weight_decay), lr=lr, betas=(beta1, beta2),
                            fused=_fused(device))


class Schedule:
    """A per-epoch learning-rate rule; `step(metric)` is called once after every epoch."""

    def __init__(self, scheduler: torch.optim.lr_scheduler.LRScheduler, needs_metric: bool = False):
        self.scheduler, self.needs_metric = scheduler, needs_metric

    def step(self, metric: float) -> None:
        self.scheduler.step(metric) if self.needs_metric else self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


def scaled_epoch(epoch: float, scale: float) -> int:
    """An epoch count of the paper's protocol at the budget's scale, halves rounded up (Python's round() rounds
    half to even, which would fold milestones 15 and 25 of 30 both onto epoch 2 of 3), at least 1."""
    return max(1, math.floor(epoch * scale + 0.5))


@dataclass(frozen=True)
class EpochPlan:
    """The paper's epochs and the epochs this run plans (its budget's share): a schedule maps the paper's epochs
    onto the run's so that the run ends at the paper's last learning rate."""

    paper: int
    planned: int

    @property
    def scale(self) -> float:
        return self.planned / self.paper

    def epoch(self, paper_epoch: int) -> int:
        """Where an event of the paper's schedule falls in this run: scaled, and an event inside the paper's
        run (before its last epoch) stays inside this one (at most planned - 1) when it has two epochs or more."""
        scaled = scaled_epoch(paper_epoch, self.scale)
        if paper_epoch < self.paper and self.planned >= 2:
            return min(scaled, self.planned - 1)
        return scaled


@SCHEDULES.register("multistep")
def multistep(optimizer: torch.optim.Optimizer, plan: EpochPlan, milestones: Annotated[List[int], Range(ge=1)] = [60, 120, 160],
              gamma: Annotated[float, Range(gt=0)] = 0.2) -> Schedule:
    """lr x gamma at each milestone epoch (milestones scale with the budget)."""
    return Schedule(torch.optim.lr_scheduler.MultiStepLR(optimizer, [plan.epoch(m) for m in milestones], gamma))


@SCHEDULES.register("exponential")
def exponential(optimizer: torch.optim.Optimizer, plan: EpochPlan, gamma: Annotated[float, Range(gt=0)] = 0.8,
                start_epoch: Annotated[int, Range(ge=1)] = 10) -> Schedule:
    """lr x gamma after every epoch from `start_epoch` on (RepeatNet's rot-MNIST protocol). At a budget the decay
    starts at the scaled epoch and gamma steepens so that the last epoch's lr is the paper's last lr."""
    start = plan.epoch(start_epoch)
    steps, planned_steps = plan.paper - start_epoch, plan.planned - start
    if steps > 0 and planned_steps > 0:
        gamma = gamma ** (steps / planned_steps)
    rule = lambda epoch: gamma ** max(0, epoch - start + 1)  # noqa: E731
    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, rule))


@SCHEDULES.register("plateau")
def plateau(optimizer: torch.optim.Optimizer, plan: EpochPlan, factor: Annotated[float, Range(gt=0, lt=1)] = 0.5, patience: Annotated[int, Range(ge=0)] = 10,
            min_lr: Annotated[float, Range(ge=0)] = 0.0) -> Schedule:
    """lr x factor when test accuracy has not improved for `patience` epochs (scaled with the budget)."""
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=factor, patience=scaled_epoch(patience, plan.scale), min_lr=min_lr)
    return Schedule(sched, needs_metric=True)


@SCHEDULES.register("constant")
def constant(optimizer: torch.optim.Optimizer, plan: EpochPlan) -> Schedule:
    return Schedule(torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0))
