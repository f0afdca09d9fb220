"""Class-conditional random patterns: learnable stand-in data of any shape, made from a seed."""
from __future__ import annotations

from typing import Annotated, Optional

import torch

from ..registry import Range
from .augment import BatchAugment
from .base import DATASETS, MADE, DataInfo
from .tensor_loader import TensorLoader


class Synthetic:
    """Each class has a fixed smooth template; samples are the template plus noise, as uint8."""

    def __init__(self, num_classes: int, channels: int, image_size: int, train_size: int,
                 test_size: int, noise: float, data_seed: int):
        self.info = DataInfo(num_classes=num_classes, in_channels=channels, image_size=image_size)
        self.train_size, self.test_size, self.noise, self.data_seed = train_size, test_size, noise, data_seed

    def availability(self) -> str:
        return MADE

    def _split(self, n: int, gen: torch.Generator, templates: torch.Tensor):
        labels = torch.randint(0, self.info.num_classes, (n,), generator=gen)
        x = templates[labels] + self.noise * torch.randn(templates[labels].shape, generator=gen)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), labels

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None):
        gen = torch.Generator().manual_seed(self.data_seed)
        i = self.info
        coarse = torch.rand(i.num_classes, i.in_channels, 4, 4, generator=gen)
        templates = torch.nn.functional.interpolate(coarse, size=(i.image_size, i.image_size),
                                                    mode="bilinear", align_corners=False)
        xtr, ytr = self._split(self.train_size, gen, templates)
        xte, yte = self._split(self.test_size, gen, templates)
        norm = dict(mean=[0.5] * i.in_channels, std=[0.25] * i.in_channels)
        train = TensorLoader(xtr, ytr, batch_size, BatchAugment(**norm, train=True), shuffle=True,
                             seed=seed, device=device)
        test = TensorLoader(xte, yte, eval_batch_size or batch_size, BatchAugment(**norm, train=False),
                            shuffle=False, seed=seed, device=device)
        return train, test


@DATASETS.register("synthetic")
def synthetic(num_classes: Annotated[int, Range(ge=1)] = 10, channels: Annotated[int, Range(ge=1)] = 3, image_size: Annotated[int, Range(ge=1)] = 32, train_size: Annotated[int, Range(ge=1)] = 512,
              test_size: Annotated[int, Range(ge=1)] = 256, noise: Annotated[float, Range(ge=0)] = 0.2, data_seed: Annotated[int, Range(ge=0)] = 0) -> Synthetic:
    """Any shape and class count, e.g. a stand-in for CIFAR-100 or Tiny ImageNet in tests."""
    for key, value in (("num_classes", num_classes), ("channels", channels), ("image_size", image_size),
                       ("train_size", train_size), ("test_size", test_size)):
        if value < 1:
            raise ValueError(f"dataset.{key}={value}: must be >= 1")
    return Synthetic(num_classes, channels, image_size, train_size, test_size, noise, data_seed)
