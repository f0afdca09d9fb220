"""CIFAR-10 and CIFAR-100: the official python pickles or an ImageFolder copy, cached as uint8 tensors.

`format=torchvision`: ROOT/cifar-10-batches-py (or cifar-100-python) as the official tarball
unpacks, downloadable with `download=true` (torchvision's URL and checksums). `format=folder`:
ROOT/{train,test}/<class>/<image>, e.g. a pre-fetched or offline copy. Either is decoded once to
ROOT/cache/<format>.pt. Training augmentation (pad-4 crop, flip, optional cutout) runs batched on the
training device. `val_size` holds out part of the training set (e.g. 5000 of 50000) so model choices
can be made without the test set; `eval_split=test` evaluates on the test set (the final numbers).
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Annotated, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..registry import OneOf, Range
from .augment import BatchAugment
from .base import ABSENT, DATASETS, PRESENT, DataInfo, DatasetMissingError
from .cache import cached
from .image_folder import decode_folder
from .tensor_loader import TensorLoader

FORMATS = ("torchvision", "folder")


@dataclasses.dataclass(frozen=True)
class CifarSpec:
    """What differs between the two data sets: files (torchvision's list), label key, statistics."""

    name: str
    num_classes: int
    release_class: str  # torchvision's class, whose attributes give url, tgz_md5, base_folder, train_list, test_list
    base_folder: str  # the release's folder under ROOT (torchvision's base_folder; known without importing it)
    label_key: str
    mean: Tuple[float, float, float]  # per-channel, of the training images (WRN / soft-sharing code)
    std: Tuple[float, float, float]

    @property
    def release(self) -> type:
        import torchvision.datasets

        return getattr(torchvision.datasets, self.release_class)


SPECS = {
    "cifar10": CifarSpec("cifar10", 10, "CIFAR10", "cifar-10-batches-py", "labels", (125.3 / 255, 123.0 / 255, 113.9 / 255),
                         (63.0 / 255, 62.1 / 255, 66.7 / 255)),
    "cifar100": CifarSpec("cifar100", 100, "CIFAR100", "cifar-100-python", "fine_labels", (129.3 / 255, 124.1 / 255, 112.4 / 255),
                          (68.2 / 255, 65.4 / 255, 70.4 / 255)),
}


#: the only globals an official CIFAR batch refers to (numpy arrays; bytes under protocol 2)
BATCH_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                 ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class BatchUnpickler(pickle.Unpickler):
    """Unpickles arrays, lists, dicts and strings only: a crafted batch file cannot run code."""

    def find_class(self, module: str, name: str):
        if (module, name) not in BATCH_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never holds "
                                         "(refused: unpickling it could run code)")
        return super().find_class(module, name)


def read_batches(folder: Path, files: List[str], label_key: str, fix: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Concatenate official python batches: each a pickled dict with 'data' [N, 3072] and labels."""
    images, labels = [], []
    for name in files:
        path = folder / name
        if not path.is_file():
            raise DatasetMissingError(f"CIFAR batch '{name}'", path, fix)
        try:
            with open(path, "rb") as f:
                batch = BatchUnpickler(f, encoding="latin1").load()
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(batch[label_key], dtype=np.int64)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as err:
            raise DatasetMissingError(f"an intact CIFAR batch '{name}' ({type(err).__name__}: {err})", path,
                                      f"delete it and run: {fix}") from None
        if len(y) != len(data):
            raise DatasetMissingError(f"an intact CIFAR batch '{name}' ({len(data)} images, {len(y)} labels)",
                                      path, f"delete it and run: {fix}")
        images.append(torch.from_numpy(data))
        labels.append(torch.from_numpy(y))
    return torch.cat(images), torch.cat(labels)


class Cifar:
    """One CIFAR variant at `root` in `format`; I/O happens in `tensors()` / `loaders()` only."""

    def __init__(self, spec: CifarSpec, root: str, download: bool, format: str, val_size: int,
                 eval_split: str, split_seed: int, pad_crop: int, flip: bool, cutout: int):
        self.spec, self.root, self.download, self.format = spec, Path(root), download, format
        self.val_size, self.eval_split, self.split_seed = val_size, eval_split, split_seed
        self.pad_crop, self.flip, self.cutout = pad_crop, flip, cutout
        self.info = DataInfo(num_classes=spec.num_classes, in_channels=3, image_size=32)
        self._splits: Optional[Dict[str, Tuple[torch.Tensor, torch.Tensor]]] = None

    @property
    def fix(self) -> str:
        if self.format == "torchvision":
            return (f"download it with `python scripts/prepare_data.py {self.spec.name} --root {self.root}` "
                    "(or dataset.download=true)")
        return (f"put an ImageFolder copy there ({self.root}/{{train,test}}/<class>/<image>; the offline "
                f"CIFAR-10 unpacks with `unpack_data.py cifar10 {self.root.parent}`), or use "
                "dataset.format=torchvision dataset.download=true")

    def fetch(self) -> None:
        """Download and unpack the official tarball (torchvision checks its md5)."""
        if self.format != "torchvision":
            raise ValueError(f"dataset.download=true needs dataset.format=torchvision (got '{self.format}'); "
                             "a folder copy cannot be downloaded")
        from torchvision.datasets.utils import download_and_extract_archive

        rel = self.spec.release
        if not self.verify():
            download_and_extract_archive(rel.url, str(self.root), filename=rel.filename, md5=rel.tgz_md5)

    def verify(self) -> bool:
        """True when every official batch file is present with its published md5."""
        from torchvision.datasets.utils import check_integrity

        rel = self.spec.release
        return all(check_integrity(str(self.root / rel.base_folder / name), md5)
                   for name, md5 in rel.train_list + rel.test_list)

    def _decode(self) -> Dict[str, torch.Tensor]:
        if self.format == "torchvision":
            rel = self.spec.release
            folder = self.root / rel.base_folder
            xtr, ytr = read_batches(folder, [n for n, _ in rel.train_list], self.spec.label_key, self.fix)
            xte, yte = read_batches(folder, [n for n, _ in rel.test_list], self.spec.label_key, self.fix)
        else:
            what = f"{self.spec.name} ImageFolder split"
            xtr, ytr, classes = decode_folder(self.root / "train", f"{what} 'train'", self.fix, size=32)
            xte, yte, test_classes = decode_folder(self.root / "test", f"{what} 'test'", self.fix, size=32)
            if classes != test_classes or len(classes) != self.spec.num_classes:
                raise DatasetMissingError(
                    f"{self.spec.num_classes} matching class folders in train/ and test/ (found {len(classes)} "
                    f"and {len(test_classes)})", self.root, self.fix)
        return {"train_images": xtr, "train_labels": ytr, "test_images": xte, "test_labels": yte}

    def availability(self) -> str:
        if (self.root / "cache" / f"{self.format}.pt").is_file():
            return PRESENT
        if self.format == "folder":
            return PRESENT if (self.root / "train").is_dir() and (self.root / "test").is_dir() else ABSENT
        return PRESENT if (self.root / self.spec.base_folder).is_dir() else ABSENT

    def tensors(self) -> Dict[str, torch.Tensor]:
        """All images and labels, from the decoded cache (built on first use)."""
        if self.download:
            self.fetch()
        fix = f"python scripts/prepare_data.py {self.spec.name} --root {self.root} --format {self.format}"
        t = cached(self.root / "cache" / f"{self.format}.pt", self._decode, fix)
        if self.val_size >= len(t["train_labels"]):
            raise ValueError(f"dataset.val_size={self.val_size}: must be smaller than the "
                             f"{len(t['train_labels'])} training images")
        return t

    @property
    def holds_validation(self) -> bool:
        """A validation split is held out of training and evaluated beside the test set (the soft-sharing
        authors' 45k/5k protocol: best epoch on validation, its test accuracy reported)."""
        return self.val_size > 0 and self.eval_split == "test"

    def splits(self) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
        """train, eval (what test_* metrics measure) and, when held out beside the test set, val (decoded and
        split once: the loaders and the validation loader share them)."""
        if self._splits is not None:
            return self._splits
        t = self.tensors()
        xtr, ytr = t["train_images"], t["train_labels"]
        parts = {"eval": (t["test_images"], t["test_labels"])}
        if self.val_size:
            order = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(self.split_seed))
            keep, held = order[:-self.val_size], order[-self.val_size:]
            parts["eval" if self.eval_split == "val" else "val"] = (xtr[held], ytr[held])
            xtr, ytr = xtr[keep], ytr[keep]
        self._splits = {"train": (xtr, ytr), **parts}
        return self._splits

    def _eval_loader(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, device: torch.device,
                     seed: int) -> TensorLoader:
        augment = BatchAugment(mean=self.spec.mean, std=self.spec.std, train=False)
        return TensorLoader(images, labels, batch_size, augment, shuffle=False, seed=seed, device=device)

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        parts = self.splits()
        train_aug = BatchAugment(mean=self.spec.mean, std=self.spec.std, train=True, pad_crop=self.pad_crop,
                                 flip=self.flip, cutout=self.cutout)
        train = TensorLoader(*parts["train"], batch_size, train_aug, shuffle=True, seed=seed, device=device,
                             drop_last=bool(drop_last))
        return train, self._eval_loader(*parts["eval"], eval_batch_size or batch_size, device, seed)

    def validation_loader(self, batch_size: int, device: torch.device, seed: int) -> Optional[TensorLoader]:
        """The held-out validation split when `holds_validation`, else None."""
        parts = self.splits()
        return self._eval_loader(*parts["val"], batch_size, device, seed) if "val" in parts else None

    def prepare(self) -> str:
        """Download when asked, verify the official checksums, build the cache; a one-line summary."""
        if self.download:
            self.fetch()
        checked = ""
        if self.format == "torchvision":
            if not self.verify():
                raise DatasetMissingError(f"the official {self.spec.name} batches with their published md5",
                                          self.root / self.spec.release.base_folder, self.fix)
            checked = ", md5 of every batch file verified"
        t = self.tensors()
        return (f"{self.spec.name} ({self.format}) at {self.root}: {len(t['train_labels'])} train, "
                f"{len(t['test_labels'])} test images{checked}")


def _build(name: str, root: str, download: bool, format: str, val_size: int, eval_split: str,
           split_seed: int, pad_crop: int, flip: bool, cutout: int) -> Cifar:
    if format not in FORMATS:
        raise ValueError(f"dataset.format={format}: valid formats for {name}: {', '.join(FORMATS)}")
    if eval_split not in ("test", "val"):
        raise ValueError(f"dataset.eval_split={eval_split}: valid values are test, val")
    if eval_split == "val" and val_size <= 0:
        raise ValueError("dataset.eval_split=val needs dataset.val_size > 0 (e.g. 5000 for a 45k/5k split)")
    for key, value in (("val_size", val_size), ("pad_crop", pad_crop), ("cutout", cutout)):
        if value < 0:
            raise ValueError(f"dataset.{key}={value}: must be >= 0")
    if val_size >= 50_000:
        raise ValueError(f"dataset.val_size={val_size}: must be below the 50000 training images (e.g. 5000)")
    return Cifar(SPECS[name], root, download, format, val_size, eval_split, split_seed, pad_crop, flip, cutout)


@DATASETS.register("cifar10")
def cifar10(root: str, download: bool = False, format: Annotated[str, OneOf(("torchvision", "folder"))] = "torchvision", val_size: Annotated[int, Range(ge=0)] = 0,
            eval_split: Annotated[str, OneOf(("test", "val"))] = "test", split_seed: Annotated[int, Range(ge=0)] = 0, pad_crop: Annotated[int, Range(ge=0)] = 4, flip: bool = True,
            cutout: Annotated[int, Range(ge=0)] = 0) -> Cifar:
    """CIFAR-10: 50k train / 10k test, 32x32 RGB; cutout=16 for the soft-sharing Table 4 rows."""
    return _build("cifar10", root, download, format, val_size, eval_split, split_seed, pad_crop, flip, cutout)


@DATASETS.register("cifar100")
def cifar100(root: str, download: bool = False, format: Annotated[str, OneOf(("torchvision", "folder"))] = "torchvision", val_size: Annotated[int, Range(ge=0)] = 0,
             eval_split: Annotated[str, OneOf(("test", "val"))] = "test", split_seed: Annotated[int, Range(ge=0)] = 0, pad_crop: Annotated[int, Range(ge=0)] = 4, flip: bool = True,
             cutout: Annotated[int, Range(ge=0)] = 0) -> Cifar:
    """CIFAR-100 (fine labels): 50k train / 10k test, 32x32 RGB."""
    return _build("cifar100", root, download, format, val_size, eval_split, split_seed, pad_crop, flip, cutout)
