"""Checkpoints that resume a run exactly and load with `weights_only=True`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import torch

from .atomic import atomic_write

FORMAT = "repeatnet_repro/checkpoint/v1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Atomically save model/optimiser/schedule/RNG state (plain tensors and containers only)."""
    atomic_write(Path(path), lambda f: torch.save({"format": FORMAT, **state}, f), mode="wb")


def load_checkpoint(path: Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass an existing file "
                              f"(e.g. <run dir>/checkpoints/last.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, not a torch file, or unsafe content
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200]}); it was left untouched — move it "
                              "away to start fresh, or point trainer.resume at a good one") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a repeatnet_repro checkpoint "
                              f"(expected format {FORMAT})")
    return state
