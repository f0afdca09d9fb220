"""Checkpoints that resume a run exactly and load with `weights_only=True`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import os
import pickle

import torch

from .atomic import TEMP_SUFFIX, atomic_write

FORMAT = "repeatnet_repro/checkpoint/v1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Atomically save model/optimiser/schedule/RNG state (plain tensors and containers only)."""
    atomic_write(Path(path), lambda f: torch.save({"format": FORMAT, **state}, f), mode="wb")


def link_checkpoint(source: Path, target: Path) -> None:
    """Make `target` the same checkpoint as `source` atomically (a hard link: no second copy on disk)."""
    source, target = Path(source), Path(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}{TEMP_SUFFIX}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # a file system without hard links
        atomic_write(target, lambda f: f.write(source.read_bytes()), mode="wb")
        return
    os.replace(tmp, target)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass an existing file "
                              f"(e.g. <run dir>/checkpoints/last.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" not in str(err):  # no refused object named: the bytes are not a checkpoint
            raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a torch checkpoint); it "
                                  "was left untouched — move it away to start the run afresh") from None
        raise CheckpointError(f"checkpoint {path} is unreadable: it holds objects other than tensors and plain "
                              "containers, which are never loaded (that could run code); it was left "
                              "untouched") from None
    except Exception as err:  # truncated, or not a torch file
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: truncated or not a "
                              "torch checkpoint); it was left untouched — move it away to start the run "
                              "afresh") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a repeatnet_repro checkpoint "
                              f"(expected format {FORMAT})")
    return state
