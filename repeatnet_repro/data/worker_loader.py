"""The loader for data sets too large to hold decoded (ImageNet): DataLoader workers decode and crop.

Workers return uint8 crops (a quarter of the bytes of float), batches are pinned and copied
asynchronously, and conversion, an optional float augmentation (`augment`, e.g. PCA lighting, which
uint8 would round and clip), normalisation and channels_last happen on the training device.
The sample order and the workers' random streams come from a generator seeded by (seed, epoch), like
`TensorLoader`, so an epoch is the same whether or not the run was resumed.
"""
from __future__ import annotations

import copy
import math
from typing import Callable, Iterator, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, Subset

from .subset import balanced_indices


class WorkerLoader:
    """Iterates normalised float batches [B, C, H, W] (or [B, n_crops, C, H, W]) on `device`."""

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool, seed: int, device: torch.device,
                 mean: Sequence[float], std: Sequence[float], workers: int, drop_last: bool = False,
                 augment: Optional[Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = None):
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.device, self.workers, self.drop_last, self.epoch = torch.device(device), workers, drop_last, 0
        self.augment = augment
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(-1, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(-1, 1, 1) * 255

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def limited(self, batches: int) -> "WorkerLoader":
        """The first `batches` batches of a fixed class-balanced subset (by the data set's `targets`, as an
        ImageFolder has them; a seeded shuffle without), for a capped evaluation (data/subset.py)."""
        idx = balanced_indices(len(self.dataset), batches * self.batch_size, getattr(self.dataset, "targets", None))
        sub = copy.copy(self)
        sub.dataset = Subset(self.dataset, idx.tolist())
        return sub

    def _loader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        sampler = RandomSampler(self.dataset, generator=gen) if self.shuffle else SequentialSampler(self.dataset)
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.workers,
                          pin_memory=self.device.type == "cuda", drop_last=self.drop_last, generator=gen,
                          persistent_workers=False, prefetch_factor=4 if self.workers else None)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + self.epoch)
        for images, targets in self._loader():
            x = images.to(self.device, non_blocking=True).float()
            if self.augment is not None:
                x = self.augment(x, gen)
            x = x.sub_(self.mean).div_(self.std)
            if x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, targets.to(self.device, non_blocking=True)
