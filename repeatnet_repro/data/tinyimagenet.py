"""Tiny ImageNet (200 classes, 64x64): download, reorganise val/, decode once, train on the device.

The official zip unpacks to ROOT/tiny-imagenet-200 with train/<wnid>/images/*.JPEG but all 10,000
validation images in one val/images folder, their classes listed in val/val_annotations.txt;
`reorganise_val` moves them to val/<wnid>/ so both splits are ImageFolder trees (the labelled val
split is the test set, as in the papers; the official test split has no labels). Training: a
random-size crop resized to 56 plus flip (ShardNet); evaluation: ten 56x56 crops of the 64x64 image
(corners, centre, mirrored) with averaged softmax outputs, or one centre crop (`eval_crops=1`).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Dict, Optional

import torch

from ..registry import OneOf, Range
from .augment import BatchAugment
from .base import ABSENT, DATASETS, PRESENT, DataInfo, DatasetMissingError
from .cache import cached
from .image_folder import decode_folder
from .tensor_loader import TensorLoader

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"
# per-channel statistics of the 100,000 training images
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2770, 0.2691, 0.2821)


def reorganise_val(val: Path) -> int:
    """Move val/images/<file> to val/<wnid>/<file> as val_annotations.txt says; returns files moved.

    Idempotent: a val/ folder already reorganised (no images/ left) is left as it is.
    """
    images, notes = val / "images", val / "val_annotations.txt"
    if not images.is_dir():
        return 0
    if not notes.is_file():
        raise DatasetMissingError("val_annotations.txt (the labels of val/images)", notes,
                                  "re-extract the official tiny-imagenet-200.zip")
    moved = 0
    for line in notes.read_text().splitlines():
        if not line.strip():
            continue
        fname, wnid = line.split("\t")[:2]
        src = images / fname
        if src.is_file():
            (val / wnid).mkdir(exist_ok=True)
            src.rename(val / wnid / fname)
            moved += 1
    leftover = sorted(p.name for p in images.iterdir())
    if leftover:
        raise DatasetMissingError(f"a label in val_annotations.txt for every val image (none for {leftover[:3]})",
                                  notes, "re-extract the official tiny-imagenet-200.zip")
    shutil.rmtree(images)
    return moved


class TinyImageNet:
    """Tiny ImageNet at ROOT/tiny-imagenet-200; I/O happens in `tensors()` / `loaders()` only."""

    def __init__(self, root: str, download: bool, crop: int, eval_crops: int, flip: bool):
        self.root, self.download = Path(root), download
        self.crop, self.eval_crops, self.flip = crop, eval_crops, flip
        self.info = DataInfo(num_classes=200, in_channels=3, image_size=crop)

    @property
    def folder(self) -> Path:
        return self.root / FOLDER

    @property
    def fix(self) -> str:
        return (f"download it with `python scripts/prepare_data.py tinyimagenet --root {self.root}` "
                "(or dataset.download=true)")

    def availability(self) -> str:
        present = (self.root / "cache" / "folder.pt").is_file() or (self.folder / "train").is_dir()
        return PRESENT if present else ABSENT

    def fetch(self) -> None:
        """Download and extract the zip (md5 checked) unless the tree is there; then reorganise val/."""
        from torchvision.datasets.utils import download_and_extract_archive

        if not (self.folder / "train").is_dir():
            download_and_extract_archive(URL, str(self.root), md5=MD5)
        reorganise_val(self.folder / "val")

    def _decode(self) -> Dict[str, torch.Tensor]:
        val = self.folder / "val"
        if (val / "images").is_dir():
            reorganise_val(val)
        xtr, ytr, classes = decode_folder(self.folder / "train", "Tiny ImageNet train/", self.fix, size=64)
        xte, yte, val_classes = decode_folder(val, "Tiny ImageNet val/", self.fix, size=64)
        if classes != val_classes or len(classes) != self.info.num_classes:
            raise DatasetMissingError(f"the same 200 class folders in train/ and val/ (found {len(classes)} "
                                      f"and {len(val_classes)})", self.folder, self.fix)
        return {"train_images": xtr, "train_labels": ytr, "test_images": xte, "test_labels": yte}

    def tensors(self) -> Dict[str, torch.Tensor]:
        if self.download:
            self.fetch()
        fix = f"python scripts/prepare_data.py tinyimagenet --root {self.root}"
        return cached(self.root / "cache" / "folder.pt", self._decode, fix)

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        t = self.tensors()
        train_aug = BatchAugment(MEAN, STD, train=True, resized_crop=self.crop, flip=self.flip)
        test_aug = BatchAugment(MEAN, STD, train=False, eval_crop=self.crop, ten_crop=self.eval_crops == 10)
        train = TensorLoader(t["train_images"], t["train_labels"], batch_size, train_aug, shuffle=True,
                             seed=seed, device=device, drop_last=bool(drop_last))
        test = TensorLoader(t["test_images"], t["test_labels"], eval_batch_size or batch_size, test_aug,
                            shuffle=False, seed=seed, device=device)
        return train, test

    def prepare(self) -> str:
        """Download when asked (md5 of the zip), reorganise val/, build the cache; a one-line summary."""
        from torchvision.datasets.utils import check_integrity

        zip_path = self.root / f"{FOLDER}.zip"
        if self.download:
            self.fetch()
        checked = ", zip md5 verified" if zip_path.exists() and check_integrity(str(zip_path), MD5) else ""
        if zip_path.exists() and not checked:
            raise DatasetMissingError("tiny-imagenet-200.zip with its published md5", zip_path,
                                      f"delete it and run: {self.fix}")
        t = self.tensors()
        return (f"tinyimagenet at {self.folder}: {len(t['train_labels'])} train, {len(t['test_labels'])} "
                f"val images, 200 classes{checked}")


@DATASETS.register("tinyimagenet")
def tinyimagenet(root: str, download: bool = False, crop: Annotated[int, Range(ge=8, le=64)] = 56, eval_crops: Annotated[int, OneOf((1, 10))] = 10,
                 flip: bool = True) -> TinyImageNet:
    """Train on random-size crops of side `crop`; evaluate on 10 (or 1) crops of that side."""
    if not 8 <= crop <= 64:
        raise ValueError(f"dataset.crop={crop}: must be between 8 and 64 (the images are 64x64)")
    if eval_crops not in (1, 10):
        raise ValueError(f"dataset.eval_crops={eval_crops}: valid values are 1 (centre) and 10 (ten-crop)")
    return TinyImageNet(root, download, crop, eval_crops, flip)
