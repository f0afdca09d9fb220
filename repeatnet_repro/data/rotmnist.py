"""Rotated MNIST: the official mnist_rotation_new benchmark, or a `rotated` stand-in built from MNIST.

`variant=official`: the two .amat text files of Larochelle et al.'s mnist_rotation_new.zip
(12,000 train+valid rows, 50,000 test rows; 784 pixel floats in [0, 1] then the label), downloaded
with `download=true` (md5 checked). `variant=rotated` (**ours**, for users without the zip): 62,000
of the 70,000 torchvision MNIST images (train + test) drawn with a fixed seed, split 12,000 / 50,000,
each rotated once by its own uniform angle in [0, 2 pi). The benchmark's own selection and angles are
not published, so tables must say which variant ran. Images are padded to 29x29 (one zero row and
column at the bottom and right, as in the e2cnn experiments) so rotations about the centre pixel are
exact for multiples of 90 degrees.

Training augmentation, by default RepeatNet's main.py (Pad 29, Resize(87), RandomRotation(180,
bilinear), RandomVerticalFlip, RandomHorizontalFlip, Resize(29), ToTensor): a uniform rotation
computed at `upsample` = 3 times the resolution, then a vertical and a horizontal flip, each with
probability 1/2 (done after the shrink back to 29 px: mirroring commutes exactly with an integer-factor
antialiased resize). No normalisation (`normalize=false`): their ToTensor feeds the [0, 1] pixels as
they are, at test time too.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import OneOf, Range
from .augment import BatchAugment, rotate
from .base import ABSENT, DATASETS, PRESENT, DataInfo, DatasetMissingError
from ..engine.progress import bar as progress_bar
from .cache import cached
from .mnist import raw_present
from .tensor_loader import TensorLoader

URL = "http://www.iro.umontreal.ca/~lisa/icml2007data/mnist_rotation_new.zip"
ZIP_MD5 = "0f9a947ff3d30e95cd685462cbf3b847"
TRAIN_AMAT = "mnist_all_rotation_normalized_float_train_valid.amat"
TEST_AMAT = "mnist_all_rotation_normalized_float_test.amat"
# md5 of the official uncompressed MNIST idx files (torchvision's raw layout)
MNIST_RAW_MD5 = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                 "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                 "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                 "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
TRAIN_SIZE, TEST_SIZE = 12_000, 50_000
SIZE = 29

log = logging.getLogger(__name__)


def read_amat(path: Path, fix: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """One .amat file -> images uint8 [N, 1, 28, 28] (pixel * 255, rounded), labels int64 [N]."""
    import pandas as pd

    if not path.is_file():
        raise DatasetMissingError(f"rot-MNIST file {path.name}", path, fix)
    log.info("reading %s (once, then cached)", path)
    try:
        values = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float32).to_numpy()
    except (ValueError, pd.errors.ParserError) as err:
        raise DatasetMissingError(f"a readable {path.name} ({err})", path, f"delete it and run: {fix}") from None
    if values.ndim != 2 or values.shape[1] != 785:
        raise DatasetMissingError(f"785 columns per row in {path.name} (found {values.shape[1:]})", path,
                                  f"delete it and run: {fix}")
    labels = values[:, -1]
    if not np.all(np.isin(labels, np.arange(10))):
        raise DatasetMissingError(f"labels 0..9 in the last column of {path.name}", path, f"delete it and run: {fix}")
    images = np.clip(np.rint(values[:, :784] * 255), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def pad29(images: torch.Tensor) -> torch.Tensor:
    """[N, 1, 28, 28] -> [N, 1, 29, 29]: one zero column on the right and one zero row at the bottom."""
    return F.pad(images, (0, SIZE - 28, 0, SIZE - 28))


def rotate_once(images: torch.Tensor, gen: torch.Generator, chunk: int = 8192) -> torch.Tensor:
    """Rotate each uint8 image by its own angle ~ U[0, 2 pi) (bilinear), back to uint8."""
    angles = 2 * math.pi * torch.rand(len(images), generator=gen)
    out = [rotate(images[i:i + chunk], angles[i:i + chunk]).round().clamp(0, 255).to(torch.uint8)
           for i in progress_bar(range(0, len(images), chunk), desc="rotating MNIST (once, then cached)",
                                 unit="chunk")]
    return torch.cat(out)


class RotMNIST:
    """Either variant; I/O happens in `tensors()` / `loaders()` only."""

    info = DataInfo(num_classes=10, in_channels=1, image_size=SIZE)

    def __init__(self, variant: str, root: str, mnist_root: str, download: bool, data_seed: int,
                 augment: Dict[str, object], normalize: bool):
        self.variant, self.root, self.mnist_root = variant, Path(root), Path(mnist_root)
        self.download, self.data_seed = download, data_seed
        self.augment, self.normalize = augment, normalize

    @property
    def fix(self) -> str:
        if self.variant == "official":
            return (f"download it with `python scripts/prepare_data.py rotmnist --root {self.root}` (or "
                    f"dataset.download=true), or use dataset.variant=rotated")
        return (f"get MNIST with `python scripts/prepare_data.py rotmnist --variant rotated --mnist-root "
                f"{self.mnist_root}` (or dataset.download=true), or unpack an offline copy there "
                f"(`unpack_data.py mnist {self.mnist_root}`)")

    def mnist(self, train: bool):
        """torchvision's MNIST split (its data and targets tensors)."""
        from torchvision.datasets import MNIST

        try:
            return MNIST(str(self.mnist_root), train=train, download=self.download)
        except (RuntimeError, ValueError, AssertionError) as err:  # absent, or idx files that do not parse
            raise DatasetMissingError(f"MNIST in torchvision's raw layout ({err})", self.mnist_root / "MNIST" / "raw",
                                      self.fix) from None

    def fetch(self) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        if self.variant == "official":
            if not all((self.root / f).is_file() for f in (TRAIN_AMAT, TEST_AMAT)):
                download_and_extract_archive(URL, str(self.root), md5=ZIP_MD5)
        else:
            self.mnist(train=True)

    def _official(self) -> Dict[str, torch.Tensor]:
        xtr, ytr = read_amat(self.root / TRAIN_AMAT, self.fix)
        xte, yte = read_amat(self.root / TEST_AMAT, self.fix)
        return {"train_images": pad29(xtr), "train_labels": ytr, "test_images": pad29(xte), "test_labels": yte}

    def _rotated(self) -> Dict[str, torch.Tensor]:
        train, test = self.mnist(train=True), self.mnist(train=False)
        images = torch.cat([train.data, test.data]).unsqueeze(1)
        labels = torch.cat([train.targets, test.targets]).long()
        if len(labels) < TRAIN_SIZE + TEST_SIZE:
            raise DatasetMissingError(f"at least {TRAIN_SIZE + TEST_SIZE} MNIST images (found {len(labels)})",
                                      self.mnist_root / "MNIST" / "raw", self.fix)
        gen = torch.Generator().manual_seed(self.data_seed)
        pick = torch.randperm(len(labels), generator=gen)[:TRAIN_SIZE + TEST_SIZE]
        rotated = pad29(rotate_once(images[pick], gen))
        y = labels[pick]
        return {"train_images": rotated[:TRAIN_SIZE], "train_labels": y[:TRAIN_SIZE],
                "test_images": rotated[TRAIN_SIZE:], "test_labels": y[TRAIN_SIZE:]}

    def cache(self) -> Path:
        name = "official" if self.variant == "official" else f"rotated-seed{self.data_seed}"
        return self.root / "cache" / f"{name}.pt"

    def availability(self) -> str:
        if self.cache().is_file():
            return PRESENT
        if self.variant == "official":
            return PRESENT if all((self.root / f).is_file() for f in (TRAIN_AMAT, TEST_AMAT)) else ABSENT
        return PRESENT if raw_present(self.mnist_root) else ABSENT

    def tensors(self) -> Dict[str, torch.Tensor]:
        if self.download:
            self.fetch()
        build = self._official if self.variant == "official" else self._rotated
        fix = f"python scripts/prepare_data.py rotmnist --variant {self.variant} --root {self.root}"
        return cached(self.cache(), build, fix)

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        t = self.tensors()
        pixels = t["train_images"].float() / 255
        norm = (dict(mean=[pixels.mean().item()], std=[pixels.std().item()]) if self.normalize
                else dict(mean=[0.0], std=[1.0]))
        train_aug = BatchAugment(**norm, train=True, **self.augment)
        train = TensorLoader(t["train_images"], t["train_labels"], batch_size, train_aug, shuffle=True,
                             seed=seed, device=device, drop_last=bool(drop_last))
        test = TensorLoader(t["test_images"], t["test_labels"], eval_batch_size or batch_size,
                            BatchAugment(**norm, train=False), shuffle=False, seed=seed, device=device)
        return train, test

    def verify(self) -> str:
        """Checksums of what the variant reads: the zip (official) or the four MNIST idx files."""
        from torchvision.datasets.utils import check_integrity

        if self.variant == "official":
            zip_path = self.root / "mnist_rotation_new.zip"
            if not zip_path.exists():
                return "zip not kept, md5 not checked"
            if not check_integrity(str(zip_path), ZIP_MD5):
                raise DatasetMissingError("mnist_rotation_new.zip with its published md5", zip_path,
                                          f"delete it and run: {self.fix}")
            return "zip md5 verified"
        raw = self.mnist_root / "MNIST" / "raw"
        bad = [name for name, md5 in MNIST_RAW_MD5.items() if not check_integrity(str(raw / name), md5)]
        if bad:
            raise DatasetMissingError(f"the official MNIST idx files with their md5 ({', '.join(bad)} differ "
                                      "or are missing)", raw, self.fix)
        return "md5 of the 4 MNIST idx files verified"

    def prepare(self) -> str:
        if self.download:
            self.fetch()
        checked = self.verify()
        t = self.tensors()
        return (f"rotmnist ({self.variant}) at {self.root}: {len(t['train_labels'])} train, "
                f"{len(t['test_labels'])} test images, {checked}")


@DATASETS.register("rotmnist")
def rotmnist(root: str, mnist_root: str, variant: Annotated[str, OneOf(("official", "rotated"))] = "official", download: bool = False, rotate: bool = True,
             upsample: Annotated[int, Range(ge=1)] = 3, vflip: bool = True, flip: bool = True, normalize: bool = False,
             data_seed: Annotated[int, Range(ge=0)] = 0) -> RotMNIST:
    """29x29 single-channel digits, 10 classes. Training: `rotate` (uniform angle, at `upsample` times
    the resolution), `vflip`, `flip` (horizontal); `normalize` by the training pixels' mean / std."""
    if variant not in ("official", "rotated"):
        raise ValueError(f"dataset.variant={variant}: valid variants are official (mnist_rotation_new.zip) "
                         "and rotated (built from MNIST)")
    if upsample < 1:
        raise ValueError(f"dataset.upsample={upsample}: must be >= 1 (1 rotates at 29 px, RepeatNet's code at 3)")
    augment = dict(rotate=rotate, upsample=upsample, vflip=vflip, flip=flip)
    return RotMNIST(variant, root, mnist_root, download, data_seed, augment, normalize)
