"""One training epoch and one evaluation pass, with a progress bar and a non-finite-loss stop."""
from __future__ import annotations

import contextlib
import math
import time
from typing import Callable, Dict, Optional

import torch
from torch import nn

from .progress import bar as progress_bar


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or inf; the run stops before any checkpoint is overwritten."""


class Step:
    """What a batch goes through on the device: layout, precision and (for training) clipping."""

    def __init__(self, device: torch.device, bf16: bool, channels_last: bool, grad_clip: Optional[float]):
        self.device, self.bf16, self.channels_last, self.grad_clip = device, bf16, channels_last, grad_clip

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def autocast(self):
        if self.bf16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _postfix(meter, started: float, seen: int) -> Dict[str, str]:
    v = meter.values(across_ranks=False)
    out = {"loss": f"{v['loss']:.4f}", "acc": f"{v['acc']:.2f}"}
    out["img/s"] = f"{seen / max(time.perf_counter() - started, 1e-9):.0f}"
    return out


def train_epoch(model: nn.Module, loader, task, optimizer: torch.optim.Optimizer, step: Step,
                extra_loss: Callable[[], torch.Tensor], desc: str, progress: bool,
                max_batches: Optional[int] = None) -> Dict[str, float]:
    """Train over `loader` once; returns mean loss/metrics, images/s and seconds."""
    model.train()
    meter = task.meter(step.device)
    total = min(len(loader), max_batches) if max_batches else len(loader)
    started, seen = time.perf_counter(), 0
    bar = progress_bar(total=total, desc=desc, enabled=progress)
    for i, (x, y) in enumerate(loader):
        if i >= total:
            break
        x, y = step.inputs(x), y.to(step.device, non_blocking=True)
        with step.autocast():
            logits = model(x)
            loss = task.loss(logits, y)
        objective = loss + extra_loss()  # the sharing regulariser (soft sharing's LSM) in fp32
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if step.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), step.grad_clip)
        optimizer.step()
        meter.update(loss, logits, y)
        seen += y.shape[0]
        if i % 10 == 0 or i == total - 1:
            if not math.isfinite(loss.item()):
                bar.close()
                raise NonFiniteLossError(f"loss is {loss.item()} at batch {i} of {desc}")
            bar.set_postfix(_postfix(meter, started, seen), refresh=False)
        bar.update(1)
    bar.close()
    values = meter.values()
    if not math.isfinite(values.get("loss", 0.0)):
        raise NonFiniteLossError(f"mean loss is {values['loss']} in {desc}")
    seconds = time.perf_counter() - started
    return {**values, "images_per_s": seen / max(seconds, 1e-9), "seconds": seconds}


@torch.no_grad()
def evaluate(model: nn.Module, loader, task, step: Step, max_batches: Optional[int] = None,
             desc: str = "test") -> Dict[str, float]:
    """Mean loss and metrics over `loader` (a loader may yield [B, n_crops, ...]: the crops' softmax outputs are averaged); with
    `max_batches`, over that many batches of a fixed class-balanced subset of it (data/subset.py)."""
    model.eval()
    meter = task.meter(step.device)
    if max_batches:
        loader = loader.limited(max_batches)
    for x, y in progress_bar(loader, total=len(loader), desc=desc):
        x, y = x.to(step.device, non_blocking=True), y.to(step.device, non_blocking=True)
        with step.autocast():
            if x.dim() == 5:  # multi-crop evaluation: the log of the crops' mean softmax (Krizhevsky et al. 2012)
                b, n = x.shape[:2]
                crops = model(step.inputs(x.flatten(0, 1))).view(b, n, -1).float().log_softmax(-1)
                logits = crops.logsumexp(1) - math.log(n)
            else:
                logits = model(step.inputs(x))
            loss = task.loss(logits, y)
        meter.update(loss, logits, y)
    return meter.values()
