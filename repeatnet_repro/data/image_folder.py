"""An ImageFolder tree (ROOT/<class>/**/<image>) decoded into one uint8 tensor.

The layout is torchvision's ImageFolder (class = sub-folder name, classes in sorted order); the
pixels are decoded by Pillow in a thread pool (decoding releases the GIL) and stacked.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from ..engine.progress import bar as progress_bar
from .base import DatasetMissingError


def folder_samples(root: Path, what: str, fix: str) -> Tuple[List[Tuple[str, int]], List[str]]:
    """(path, label) pairs and class names of an ImageFolder tree; a clear error if there is none."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    root = Path(root)
    if not root.is_dir():
        raise DatasetMissingError(what, root, fix)
    try:
        classes, index = find_classes(str(root))
        samples = make_dataset(str(root), index, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as err:  # no class folders, or a class folder without images
        raise DatasetMissingError(f"{what} ({err})", root, fix) from None
    return samples, classes


def _decode(path: str, mode: str, size: Optional[int]) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert(mode)
        if size is not None and img.size != (size, size):
            raise ValueError(f"{path} is {img.size[0]}x{img.size[1]}, expected {size}x{size}")
        return np.asarray(img)


def decode_folder(root: Path, what: str, fix: str, mode: str = "RGB",
                  size: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """images uint8 [N, C, H, W] (every image `size` x `size` when given), labels int64 [N], classes."""
    samples, classes = folder_samples(root, what, fix)
    paths = [p for p, _ in samples]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        try:
            arrays = list(progress_bar(pool.map(lambda p: _decode(p, mode, size), paths, chunksize=256),
                                       total=len(paths), desc=f"decoding {what}", unit="img"))
        except (OSError, ValueError) as err:
            raise DatasetMissingError(f"{what} with intact images ({err})", root, fix) from None
    images = torch.from_numpy(np.stack(arrays))
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([y for _, y in samples], dtype=torch.int64)
    return images, labels, classes
