"""Decoded data sets kept on disk as uint8 tensors: decode once, then every run loads in seconds.

A cache file holds a dict of tensors (images uint8 [N, C, H, W], labels int64 [N]) and is written
atomically, so an interrupted decode never leaves a half file that a later run would trust. A cache
is trusted while it exists: after replacing the source files, delete ROOT/cache (or run
`scripts/prepare_data.py NAME --root ROOT --rebuild`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict

import torch

from ..engine.atomic import atomic_write
from .base import DatasetMissingError

Tensors = Dict[str, torch.Tensor]


def cached(path: Path, build: Callable[[], Tensors], fix: str) -> Tensors:
    """The tensors stored at `path`, built by `build()` and stored there first if absent.

    `fix` is the command that rebuilds the cache, named when the file exists but cannot be read.
    """
    path = Path(path)
    if not path.exists():
        tensors = build()
        atomic_write(path, lambda f: torch.save(tensors, f), mode="wb")
        return tensors
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the same thing to the user
        raise DatasetMissingError(f"a readable decoded cache ({type(err).__name__}: {err})", path,
                                  f"delete it and run: {fix}") from None
