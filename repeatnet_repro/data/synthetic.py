"""Class-conditional random patterns: learnable stand-in data of any shape, made from a seed.

It also takes the augmentation and evaluation options that experiment presets set on the image data sets
(cutout, colour jitter, lighting, ten-crop evaluation) and applies them, so a preset's smoke run on the
stand-in composes the preset unchanged and runs its protocol's code paths.
"""
from __future__ import annotations

from typing import Annotated, Optional

import torch

from ..registry import OneOf, Range
from .augment import BatchAugment, Lighting
from .base import DATASETS, MADE, DataInfo
from .imagenet import PCA_EIGVAL, PCA_EIGVEC
from .tensor_loader import TensorLoader


class Synthetic:
    """Each class has a fixed smooth template; samples are the template plus noise, as uint8."""

    def __init__(self, num_classes: int, channels: int, image_size: int, train_size: int,
                 test_size: int, noise: float, data_seed: int, augment: dict):
        self.info = DataInfo(num_classes=num_classes, in_channels=channels, image_size=image_size)
        self.train_size, self.test_size, self.noise, self.data_seed = train_size, test_size, noise, data_seed
        self.augment = augment

    def availability(self) -> str:
        return MADE

    def _split(self, n: int, gen: torch.Generator, templates: torch.Tensor):
        labels = torch.randint(0, self.info.num_classes, (n,), generator=gen)
        x = templates[labels] + self.noise * torch.randn(templates[labels].shape, generator=gen)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8), labels

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        gen = torch.Generator().manual_seed(self.data_seed)
        i = self.info
        coarse = torch.rand(i.num_classes, i.in_channels, 4, 4, generator=gen)
        templates = torch.nn.functional.interpolate(coarse, size=(i.image_size, i.image_size),
                                                    mode="bilinear", align_corners=False)
        xtr, ytr = self._split(self.train_size, gen, templates)
        xte, yte = self._split(self.test_size, gen, templates)
        norm = dict(mean=[0.5] * i.in_channels, std=[0.25] * i.in_channels)
        a = self.augment
        lighting = Lighting(a["lighting"], PCA_EIGVAL, PCA_EIGVEC) if a["lighting"] else None
        train_aug = BatchAugment(**norm, train=True, cutout=a["cutout"], color_jitter=a["color_jitter"],
                                 lighting=lighting)
        ten = a["eval_crops"] == 10
        test_aug = BatchAugment(**norm, train=False, eval_crop=i.image_size if ten else 0, ten_crop=ten)
        train = TensorLoader(xtr, ytr, batch_size, train_aug, shuffle=True, seed=seed, device=device,
                             drop_last=bool(drop_last))
        test = TensorLoader(xte, yte, eval_batch_size or batch_size, test_aug, shuffle=False, seed=seed,
                            device=device)
        return train, test


@DATASETS.register("synthetic")
def synthetic(num_classes: Annotated[int, Range(ge=1)] = 10, channels: Annotated[int, Range(ge=1)] = 3, image_size: Annotated[int, Range(ge=1)] = 32, train_size: Annotated[int, Range(ge=1)] = 512,
              test_size: Annotated[int, Range(ge=1)] = 256, noise: Annotated[float, Range(ge=0)] = 0.2, data_seed: Annotated[int, Range(ge=0)] = 0,
              cutout: Annotated[int, Range(ge=0)] = 0, color_jitter: Annotated[float, Range(ge=0)] = 0.0,
              lighting: Annotated[float, Range(ge=0)] = 0.0, eval_crops: Annotated[int, OneOf((1, 10))] = 1) -> Synthetic:
    """Any shape and class count, e.g. a stand-in for CIFAR-100 or Tiny ImageNet in tests; cutout, color_jitter,
    lighting and eval_crops as the image data sets (0 / 1 = off)."""
    if (color_jitter or lighting) and channels != 3:
        raise ValueError(f"dataset.color_jitter / dataset.lighting act on RGB images: dataset.channels={channels} "
                         "must be 3")
    augment = dict(cutout=cutout, color_jitter=color_jitter, lighting=lighting, eval_crops=eval_crops)
    return Synthetic(num_classes, channels, image_size, train_size, test_size, noise, data_seed, augment)
