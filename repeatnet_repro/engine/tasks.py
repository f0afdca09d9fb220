"""Loss and metrics per task: image classification, or per-pixel binary segmentation (shortest paths).

Metric sums stay on the device during an epoch; `values()` synchronises once at the end.
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from .distributed import all_reduce_sum


class Classification:
    """Cross-entropy; top-1 and (with >= 5 classes) top-5 accuracy in percent."""

    def __init__(self, num_classes: int):
        self.topk = 5 if num_classes >= 5 else 1

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), targets)

    def meter(self, device: torch.device) -> "Meter":
        return Meter(self, device)

    def counts(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        top = logits.topk(self.topk, dim=1).indices
        hit = top == targets.view(-1, 1)
        out = {"correct": hit[:, 0].sum()}
        if self.topk == 5:
            out["correct5"] = hit.any(dim=1).sum()
        return out

    def values(self, sums: Dict[str, float], n: float) -> Dict[str, float]:
        out = {"acc": 100.0 * sums["correct"] / n}
        if "correct5" in sums:
            out["top5"] = 100.0 * sums["correct5"] / n
        return out


class Segmentation:
    """Per-pixel sigmoid + binary cross-entropy; pixel accuracy and F1 of the positive pixels."""

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float().squeeze(1), targets.float())

    def meter(self, device: torch.device) -> "Meter":
        return Meter(self, device)

    def counts(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        pred = logits.squeeze(1) > 0
        truth = targets > 0.5
        return {"tp": (pred & truth).sum(), "fp": (pred & ~truth).sum(), "fn": (~pred & truth).sum(),
                "pixels_right": (pred == truth).sum(), "pixels": torch.tensor(truth.numel())}

    def values(self, sums: Dict[str, float], n: float) -> Dict[str, float]:
        denom = 2 * sums["tp"] + sums["fp"] + sums["fn"]
        return {"acc": 100.0 * sums["pixels_right"] / max(sums["pixels"], 1),
                "f1": 2 * sums["tp"] / denom if denom else 1.0}


class Meter:
    """Running sums of loss and metric counts over an epoch."""

    def __init__(self, task, device: torch.device):
        self.task, self.device = task, device
        self.sums: Dict[str, torch.Tensor] = {}
        self.n = 0

    def update(self, loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        b = targets.shape[0]
        self.n += b
        counts = {"loss": loss.detach().float() * b, **self.task.counts(logits.detach(), targets)}
        for k, v in counts.items():
            self.sums[k] = self.sums.get(k, 0) + v.to(self.device, torch.float64)

    def values(self, across_ranks: bool = True) -> Dict[str, float]:
        """Mean loss and metrics; summed over every data-parallel rank unless `across_ranks=False`.

        Every rank must call this with across_ranks=True at the same point (it is a collective).
        """
        keys = sorted(self.sums)
        if not keys:
            return {}
        packed = torch.stack([self.sums[k] for k in keys] + [torch.tensor(float(self.n), dtype=torch.float64,
                                                                          device=self.device)])
        if across_ranks:
            packed = all_reduce_sum(packed.clone())
        sums = dict(zip(keys, packed[:-1].tolist()))
        n = packed[-1].item()
        return {"loss": sums["loss"] / n, **self.task.values(sums, n)}


def make_task(task: str, num_classes: int):
    if task == "classification":
        return Classification(num_classes)
    if task == "segmentation":
        return Segmentation()
    raise ValueError(f"unknown task '{task}'; valid: classification, segmentation")
