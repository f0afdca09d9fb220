"""The fixed subset a capped evaluation sees (budget.max_eval_batches): every class in turn, not the first N.

Test sets are often stored sorted by class (an ImageFolder copy of CIFAR-10: its first 1000 images are all
class 0), so "the first N images" can be one class. The subset takes one example of every class in turn
(classes and the examples within each in an order drawn from a fixed seed, the same for every run), so any
prefix of it is as balanced as its length allows; targets that are not class labels (segmentation maps)
give a seeded shuffle instead.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

#: the subset's seed: fixed, so that every run (every seed, every model) is evaluated on the same examples
SUBSET_SEED = 0


def balanced_indices(size: int, n: int, labels: Optional[Sequence[int]] = None, seed: int = SUBSET_SEED
                     ) -> torch.Tensor:
    """`n` of the indices 0..size-1 (all of them when n >= size): round robin over the classes `labels` gives
    (one per example), or a seeded shuffle without them."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(size, generator=gen)
    if labels is None:
        return order[:n]
    labels = torch.as_tensor(labels).cpu()[order]
    classes, inverse = torch.unique(labels, return_inverse=True)
    class_rank = torch.randperm(len(classes), generator=gen)[inverse]  # which class goes first in each round
    grouped = torch.sort(labels, stable=True).indices  # by class; within a class in the seeded order
    first = torch.searchsorted(labels[grouped], labels[grouped])  # start of each example's class block
    rank = torch.empty_like(grouped)
    rank[grouped] = torch.arange(len(grouped)) - first  # position within its class
    pick = torch.argsort(rank * len(classes) + class_rank)[:n]
    return order[pick]
