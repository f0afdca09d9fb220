"""ImageNet (ILSVRC-2012): ImageFolder trees ROOT/train and ROOT/val, read through DataLoader workers.

There is no download (the licence requires a manual one); val/ must already be sorted into class
folders. Training: RandomResizedCrop 224 + flip; evaluation: resize 256, centre crop 224, or ten
crops of 224 (`eval_crops=10`) with averaged logits.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .base import DATASETS, DataInfo, DatasetMissingError
from .image_folder import folder_samples
from .worker_loader import WorkerLoader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class TenCrops:
    """PIL image -> uint8 [10, C, crop, crop]: resized, then four corners and centre, and their mirrors."""

    def __init__(self, resize: int, crop: int):
        from torchvision.transforms import v2

        self.resize = v2.Compose([v2.Resize(resize, antialias=True), v2.PILToTensor()])
        self.crop = crop

    def __call__(self, image) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        return torch.stack(TF.ten_crop(self.resize(image), [self.crop]))


def train_transform(crop: int):
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip(),
                       v2.PILToTensor()])


def eval_transform(resize: int, crop: int, eval_crops: int):
    from torchvision.transforms import v2

    if eval_crops == 10:
        return TenCrops(resize, crop)
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(crop), v2.PILToTensor()])


class ImageNet:
    """ImageNet at `root`; scanning and decoding happen in `loaders()` only."""

    def __init__(self, root: str, crop: int, resize: int, eval_crops: int, workers: int):
        self.root, self.crop, self.resize, self.eval_crops, self.workers = Path(root), crop, resize, eval_crops, workers
        self.info = DataInfo(num_classes=1000, in_channels=3, image_size=crop)

    @property
    def fix(self) -> str:
        return ("ImageNet cannot be downloaded automatically: get ILSVRC-2012 from image-net.org and "
                f"arrange it as {self.root}/train/<wnid>/*.JPEG and {self.root}/val/<wnid>/*.JPEG, "
                "or point dataset.root at such a copy")

    def splits(self):
        """(train, val) ImageFolder datasets with the same classes."""
        from torchvision.datasets import ImageFolder

        train_samples, classes = folder_samples(self.root / "train", "ImageNet train/", self.fix)
        val_samples, val_classes = folder_samples(self.root / "val", "ImageNet val/ sorted into class folders",
                                                  self.fix)
        if classes != val_classes:
            raise DatasetMissingError(f"the same class folders in train/ and val/ ({len(classes)} vs "
                                      f"{len(val_classes)})", self.root, self.fix)
        if len(classes) != self.info.num_classes:
            raise DatasetMissingError(f"1000 class folders (found {len(classes)})", self.root / "train", self.fix)
        train = ImageFolder(str(self.root / "train"), transform=train_transform(self.crop))
        val = ImageFolder(str(self.root / "val"), transform=eval_transform(self.resize, self.crop, self.eval_crops))
        return train, val

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None):
        train_set, val_set = self.splits()
        train = WorkerLoader(train_set, batch_size, True, seed, device, MEAN, STD, self.workers, drop_last=True)
        test = WorkerLoader(val_set, eval_batch_size or batch_size, False, seed, device, MEAN, STD, self.workers)
        return train, test

    def prepare(self) -> str:
        """Check the layout (nothing to download); a one-line summary."""
        train, val = self.splits()
        return f"imagenet at {self.root}: {len(train)} train, {len(val)} val images, {len(train.classes)} classes"


@DATASETS.register("imagenet")
def imagenet(root: str, crop: int = 224, resize: int = 256, eval_crops: int = 1, workers: int = 8) -> ImageNet:
    """DataLoader path: `workers` processes decode JPEGs; crops and flips are torchvision's."""
    if eval_crops not in (1, 10):
        raise ValueError(f"dataset.eval_crops={eval_crops}: valid values are 1 (centre) and 10 (ten-crop)")
    if crop > resize:
        raise ValueError(f"dataset.crop={crop} must not exceed dataset.resize={resize}")
    if workers < 0:
        raise ValueError(f"dataset.workers={workers}: must be >= 0")
    return ImageNet(root, crop, resize, eval_crops, workers)
