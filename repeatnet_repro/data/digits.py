"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download."""
from __future__ import annotations

from typing import Annotated, Optional, Tuple

import numpy as np
import torch

from ..registry import Range
from .augment import BatchAugment
from .base import DATASETS, MADE, DataInfo
from .tensor_loader import TensorLoader


class Digits:
    """1797 images, a fixed stratified train/test split, resized and replicated to the config's shape."""

    def __init__(self, image_size: int, channels: int, test_fraction: float, split_seed: int):
        self.info = DataInfo(num_classes=10, in_channels=channels, image_size=image_size)
        self.test_fraction, self.split_seed = test_fraction, split_seed

    def availability(self) -> str:
        return MADE  # bundled with scikit-learn

    def tensors(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        data = load_digits()
        images = torch.from_numpy((data.images * (255.0 / 16.0)).round().astype(np.uint8)).unsqueeze(1)
        size = self.info.image_size
        images = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear",
                                                 align_corners=False).round().clamp(0, 255).to(torch.uint8)
        images = images.expand(-1, self.info.in_channels, -1, -1).contiguous()
        labels = torch.from_numpy(data.target.astype(np.int64))
        tr, te = train_test_split(np.arange(len(labels)), test_size=self.test_fraction,
                                  random_state=self.split_seed, stratify=data.target)
        return images[tr], labels[tr], images[te], labels[te]

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        xtr, ytr, xte, yte = self.tensors()
        mean = (xtr.float() / 255).mean().item()
        std = (xtr.float() / 255).std().item()
        c = self.info.in_channels
        train_aug = BatchAugment([mean] * c, [std] * c, train=True, pad_crop=self.info.image_size // 16)
        test_aug = BatchAugment([mean] * c, [std] * c, train=False)
        train = TensorLoader(xtr, ytr, batch_size, train_aug, shuffle=True, seed=seed, device=device,
                             drop_last=bool(drop_last))
        test = TensorLoader(xte, yte, eval_batch_size or batch_size, test_aug, shuffle=False,
                            seed=seed, device=device)
        return train, test


@DATASETS.register("digits")
def digits(image_size: Annotated[int, Range(ge=8)] = 16, channels: Annotated[int, Range(ge=1)] = 1, test_fraction: Annotated[float, Range(gt=0, lt=1)] = 0.25,
           split_seed: Annotated[int, Range(ge=0)] = 0) -> Digits:
    """Resize the 8x8 digits to image_size (bilinear) and repeat them over `channels`."""
    if image_size < 8:
        raise ValueError(f"dataset.image_size={image_size}: must be >= 8 (the digits are 8x8)")
    if channels < 1:
        raise ValueError(f"dataset.channels={channels}: must be >= 1")
    return Digits(image_size, channels, test_fraction, split_seed)
