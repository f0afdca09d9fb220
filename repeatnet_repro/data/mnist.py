"""MNIST in torchvision's layout (ROOT/MNIST/raw): the real-data set for quick CPU comparisons."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch

from ..registry import Range
from .augment import BatchAugment
from .base import ABSENT, DATASETS, PRESENT, DataInfo, DatasetMissingError
from .tensor_loader import TensorLoader

MEAN, STD = 0.1307, 0.3081  # the training set's pixel statistics
#: torchvision's raw layout, ROOT/MNIST/raw/<file> (or <file>.gz)
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def raw_present(root: Path) -> bool:
    raw = Path(root) / "MNIST" / "raw"
    return all((raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in RAW_FILES)


class MNISTSource:
    """60k/10k 28x28 digits held as uint8 tensors; training crops from a 2-pixel zero pad."""

    info = DataInfo(num_classes=10, in_channels=1, image_size=28)

    def __init__(self, root: str, download: bool, train_size: Optional[int], pad_crop: int):
        self.root, self.download, self.train_size, self.pad_crop = Path(root), download, train_size, pad_crop

    def availability(self) -> str:
        return PRESENT if raw_present(self.root) else ABSENT

    def split(self, train: bool):
        from torchvision.datasets import MNIST

        try:
            data = MNIST(str(self.root), train=train, download=self.download)
        except (RuntimeError, ValueError) as err:
            raise DatasetMissingError(f"MNIST in torchvision's raw layout ({err})", self.root / "MNIST" / "raw",
                                      f"set dataset.download=true, or unpack an offline copy with "
                                      f"`python ../shared/tools/unpack_data.py mnist {self.root}`") from None
        return data.data.unsqueeze(1), data.targets.long()

    def loaders(self, batch_size: int, device: torch.device, seed: int, eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        xtr, ytr = self.split(train=True)
        if self.train_size:
            xtr, ytr = xtr[:self.train_size], ytr[:self.train_size]
        xte, yte = self.split(train=False)
        norm = dict(mean=[MEAN], std=[STD])
        train = TensorLoader(xtr, ytr, batch_size, BatchAugment(**norm, train=True, pad_crop=self.pad_crop),
                             shuffle=True, seed=seed, device=device, drop_last=bool(drop_last))
        test = TensorLoader(xte, yte, eval_batch_size or batch_size, BatchAugment(**norm, train=False),
                            shuffle=False, seed=seed, device=device)
        return train, test


@DATASETS.register("mnist")
def mnist(root: str, download: bool = False, train_size: Annotated[Optional[int], Range(ge=1, le=60_000)] = None, pad_crop: Annotated[int, Range(ge=0)] = 2) -> MNISTSource:
    """train_size: the first N training images only (null = all 60,000)."""
    if train_size is not None and not 1 <= train_size <= 60_000:
        raise ValueError(f"dataset.train_size={train_size}: must be between 1 and 60000 (or null for all)")
    if pad_crop < 0:
        raise ValueError(f"dataset.pad_crop={pad_crop}: must be >= 0")
    return MNISTSource(root, download, train_size, pad_crop)
