"""A loader over data held as one uint8 tensor (on the GPU when training there).

Batches are cut from a per-epoch permutation drawn from a generator seeded by (seed, epoch), and
augmentation draws from the same generator: an epoch's batches depend only on the seed and the
epoch number, which is what makes resuming from a checkpoint exact.
"""
from __future__ import annotations

import copy
import math
from typing import Iterator, Optional, Tuple

import torch

from .augment import BatchAugment
from .subset import balanced_indices


class TensorLoader:
    """Iterates `(augment(images[idx]), targets[idx])` batches with no per-image Python."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, batch_size: int,
                 augment: BatchAugment, shuffle: bool, seed: int, drop_last: bool = False,
                 device: Optional[torch.device] = None):
        device = device or images.device
        self.images = images.to(device)
        self.targets = targets.to(device)
        self.batch_size, self.augment, self.shuffle = batch_size, augment, shuffle
        self.seed, self.drop_last, self.epoch = seed, drop_last, 0
        self.device = device

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.targets)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def limited(self, batches: int) -> "TensorLoader":
        """The first `batches` batches of a fixed class-balanced subset (a capped evaluation, data/subset.py);
        targets that are not one class index per example (segmentation maps) give a seeded shuffle."""
        labels = self.targets if self.targets.dim() == 1 and not self.targets.is_floating_point() else None
        idx = balanced_indices(len(self.targets), batches * self.batch_size, labels).to(self.device)
        sub = copy.copy(self)
        sub.images, sub.targets = self.images[idx], self.targets[idx]
        return sub

    def _generator(self) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed * 1_000_003 + self.epoch)
        return gen

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        gen = self._generator()
        n = len(self.targets)
        order = (torch.randperm(n, generator=gen, device=self.device) if self.shuffle
                 else torch.arange(n, device=self.device))
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.augment(self.images[idx], gen), self.targets[idx]
