"""What a data set is to the trainer: cheap metadata first, tensors or loaders only on demand.

A dataset builder (registry `DATASETS`) returns a `DataSource` without touching the disk, so the
count CLI and config checks work on machines without the files. `DataSource.loaders()` does the
I/O and returns iterables of `(inputs, targets)` batches already on the training device.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Protocol, Tuple

import torch

from ..registry import Registry

DATASETS = Registry("dataset")


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Shapes a model needs to be built: known from the config alone."""

    num_classes: int
    in_channels: int
    image_size: int
    task: str = "classification"  # or "segmentation" (per-pixel binary targets, shortest paths)


class Loader(Protocol):
    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]: ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...
    def limited(self, batches: int) -> "Loader": ...  # a capped evaluation's fixed class-balanced subset


#: what `DataSource.availability()` says, without reading any data
PRESENT, ABSENT, MADE = "present", "absent", "made by the code"


class DataSource(Protocol):
    info: DataInfo

    def loaders(self, batch_size: int, device: torch.device, seed: int, eval_batch_size: Optional[int] = None,
                drop_last: Optional[bool] = None) -> Tuple[Loader, Loader]: ...
    # drop_last: whether training skips each epoch's last partial batch (None: the data set's own habit: ImageNet
    # drops it, the tensor data sets keep it; trainer.drop_last)

    def availability(self) -> str: ...  # PRESENT | ABSENT (the files loaders() reads) | MADE (none needed)


class DatasetMissingError(FileNotFoundError):
    """A data set is not where the config says; the message names the path and the fix."""

    def __init__(self, what: str, path: object, fix: str):
        super().__init__(f"{what} not found at {path}; {fix}")
