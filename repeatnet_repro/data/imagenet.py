"""ImageNet (ILSVRC-2012): ImageFolder trees ROOT/train and ROOT/val, read through DataLoader workers.

There is no download (the licence requires a manual one); val/ must already be sorted into class
folders. Training: RandomResizedCrop 224, optionally fb.resnet.torch's colour augmentation
(`color_jitter`: brightness, contrast and saturation factors in 1 +- that, in random order;
`lighting`: AlexNet's PCA noise of that std, added on the device in float), flip; evaluation: resize
256, centre crop 224, or ten crops of 224 (`eval_crops=10`) with averaged softmax outputs. torchvision's
ColorJitter clips each step to the pixel range (fb.resnet.torch does not); the flip, spatial only,
commutes with the colour steps fb.resnet.torch applies before it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import torch

from ..registry import OneOf, Range
from .augment import Lighting
from .base import ABSENT, DATASETS, PRESENT, DataInfo, DatasetMissingError
from .image_folder import folder_samples
from .worker_loader import WorkerLoader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# fb.resnet.torch datasets/imagenet.lua: PCA of ImageNet's RGB pixels (values in [0, 1]), eigenvectors as columns
PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009],
                           [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])


class TenCrops:
    """PIL image -> uint8 [10, C, crop, crop]: resized, then four corners and centre, and their mirrors."""

    def __init__(self, resize: int, crop: int):
        from torchvision.transforms import v2

        self.resize = v2.Compose([v2.Resize(resize, antialias=True), v2.PILToTensor()])
        self.crop = crop

    def __call__(self, image) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        return torch.stack(TF.ten_crop(self.resize(image), [self.crop]))


def train_transform(crop: int, color_jitter: float):
    from torchvision.transforms import v2

    jitter = [v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter)
              ] if color_jitter else []
    return v2.Compose([v2.RandomResizedCrop(crop, antialias=True), *jitter, v2.RandomHorizontalFlip(),
                       v2.PILToTensor()])


def eval_transform(resize: int, crop: int, eval_crops: int):
    from torchvision.transforms import v2

    if eval_crops == 10:
        return TenCrops(resize, crop)
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(crop), v2.PILToTensor()])


class ImageNet:
    """ImageNet at `root`; scanning and decoding happen in `loaders()` only."""

    def __init__(self, root: str, crop: int, resize: int, eval_crops: int, workers: int, color_jitter: float,
                 lighting: float):
        self.root, self.crop, self.resize, self.eval_crops, self.workers = Path(root), crop, resize, eval_crops, workers
        self.color_jitter, self.lighting = color_jitter, lighting
        self.info = DataInfo(num_classes=1000, in_channels=3, image_size=crop)

    @property
    def fix(self) -> str:
        return ("ImageNet cannot be downloaded automatically: get ILSVRC-2012 from image-net.org and "
                f"arrange it as {self.root}/train/<wnid>/*.JPEG and {self.root}/val/<wnid>/*.JPEG, "
                "or point dataset.root at such a copy")

    def availability(self) -> str:
        return PRESENT if (self.root / "train").is_dir() and (self.root / "val").is_dir() else ABSENT

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
        train = ImageFolder(str(self.root / "train"), transform=train_transform(self.crop, self.color_jitter))
        val = ImageFolder(str(self.root / "val"), transform=eval_transform(self.resize, self.crop, self.eval_crops))
        return train, val

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        train_set, val_set = self.splits()
        noise = Lighting(self.lighting, PCA_EIGVAL, PCA_EIGVEC) if self.lighting else None
        train = WorkerLoader(train_set, batch_size, True, seed, device, MEAN, STD, self.workers,
                             drop_last=drop_last is not False,  # imagenet_seq (soft sharing main.py) drops it
                             augment=noise)
        test = WorkerLoader(val_set, eval_batch_size or batch_size, False, seed, device, MEAN, STD, self.workers)
        return train, test

    def prepare(self) -> str:
        """Check the layout (nothing to download); a one-line summary."""
        train, val = self.splits()
        return f"imagenet at {self.root}: {len(train)} train, {len(val)} val images, {len(train.classes)} classes"


@DATASETS.register("imagenet")
def imagenet(root: str, crop: Annotated[int, Range(ge=1)] = 224, resize: Annotated[int, Range(ge=1)] = 256, eval_crops: Annotated[int, OneOf((1, 10))] = 1, workers: Annotated[int, Range(ge=0)] = 8,
             color_jitter: Annotated[float, Range(ge=0)] = 0.0,
             lighting: Annotated[float, Range(ge=0)] = 0.0) -> ImageNet:
    """DataLoader path: `workers` processes decode JPEGs; crops, flips and colour jitter are torchvision's.
    color_jitter / lighting: fb.resnet.torch's 0.4 / 0.1 (soft sharing Table 3); 0 = off."""
    if eval_crops not in (1, 10):
        raise ValueError(f"dataset.eval_crops={eval_crops}: valid values are 1 (centre) and 10 (ten-crop)")
    if crop > resize:
        raise ValueError(f"dataset.crop={crop} must not exceed dataset.resize={resize}")
    if workers < 0:
        raise ValueError(f"dataset.workers={workers}: must be >= 0")
    for key, value in (("color_jitter", color_jitter), ("lighting", lighting)):
        if value < 0:
            raise ValueError(f"dataset.{key}={value}: must be >= 0 (0 = off)")
    return ImageNet(root, crop, resize, eval_crops, workers, color_jitter, lighting)
