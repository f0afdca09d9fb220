"""Shortest paths on a 32x32 grid (soft-sharing paper, Fig. 5): generated, cached as .npz, on the device.

An example: obstacles i.i.d. with probability `obstacle_p`, two query cells q1 != q2 (never
obstacles: **ours**, the cells under the queries are cleared), input channels (queries, obstacles).
The target marks every cell c on some shortest 4-neighbour path: d(q1, c) + d(c, q2) = d(q1, q2),
with d the BFS distance over free cells (endpoints included). q1 is uniform over the grid; q2 is
uniform over a window of side 5, 9, 13, 17 or 21 around q1 (curriculum phases 1..5), clipped to
the grid; an example whose q2 is unreachable is drawn again. Each (split, phase) has its own fixed
seed, so the held-out sets of every difficulty are the same for every run and never overlap
training draws. Files: ROOT/<split>_n<size>_p<obstacle_p>_seed<seed>.npz with inputs [N, 2, 32, 32]
uint8, targets [N, 32, 32] uint8 and phase [N], N = 5 * size (all phases).
"""
from __future__ import annotations

import copy
import logging
import zipfile
from pathlib import Path
from typing import Annotated, Dict, Optional

import numpy as np
import torch

from ..registry import OneOf, Range
from ..engine.atomic import atomic_write
from ..engine.progress import bar as progress_bar
from .base import DATASETS, MADE, DataInfo, DatasetMissingError
from .tensor_loader import TensorLoader

GRID = 32
WINDOWS = (5, 9, 13, 17, 21)  # side of q2's window around q1, per curriculum phase 1..5
PHASES = tuple(range(1, len(WINDOWS) + 1))
SPLIT_IDS = {"train": 0, "heldout": 1}
UNREACHED = np.iinfo(np.int32).max // 4

log = logging.getLogger(__name__)


def bfs_distances(free: np.ndarray, source: np.ndarray) -> np.ndarray:
    """4-neighbour BFS distances from source[i] over free[i], for a whole batch at once.

    free: bool [N, H, W]; source: int [N, 2] (row, col). Returns int32 [N, H, W], UNREACHED where no
    path exists. One wavefront step per iteration, applied to every grid in the batch.
    """
    n = len(free)
    dist = np.full(free.shape, UNREACHED, dtype=np.int32)
    frontier = np.zeros(free.shape, dtype=bool)
    frontier[np.arange(n), source[:, 0], source[:, 1]] = True
    dist[frontier] = 0
    step = 0
    while frontier.any():
        step += 1
        grow = np.zeros_like(frontier)
        grow[:, 1:] |= frontier[:, :-1]
        grow[:, :-1] |= frontier[:, 1:]
        grow[:, :, 1:] |= frontier[:, :, :-1]
        grow[:, :, :-1] |= frontier[:, :, 1:]
        frontier = grow & free & (dist == UNREACHED)
        dist[frontier] = step
    return dist


def generate(n: int, window: int, obstacle_p: float, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """n examples of one phase: inputs uint8 [n, 2, G, G] (queries, obstacles), targets uint8 [n, G, G]."""
    inputs, targets, have = [], [], 0
    half = window // 2
    while have < n:
        m = max(2 * (n - have), 64)
        idx = np.arange(m)
        obstacles = rng.random((m, GRID, GRID)) < obstacle_p
        q1 = rng.integers(0, GRID, (m, 2))
        lo, hi = np.maximum(q1 - half, 0), np.minimum(q1 + half, GRID - 1)
        q2 = lo + np.floor(rng.random((m, 2)) * (hi - lo + 1)).astype(np.int64)
        obstacles[idx, q1[:, 0], q1[:, 1]] = False
        obstacles[idx, q2[:, 0], q2[:, 1]] = False
        free = ~obstacles
        d1 = bfs_distances(free, q1)
        d12 = d1[idx, q2[:, 0], q2[:, 1]]
        keep = np.flatnonzero((q1 != q2).any(1) & (d12 < UNREACHED))[:n - have]
        d2 = bfs_distances(free[keep], q2[keep])
        on_path = d1[keep] + d2 == d12[keep, None, None]
        x = np.zeros((len(keep), 2, GRID, GRID), dtype=np.uint8)
        k = np.arange(len(keep))
        x[k, 0, q1[keep, 0], q1[keep, 1]] = 1
        x[k, 0, q2[keep, 0], q2[keep, 1]] = 1
        x[:, 1] = obstacles[keep]
        inputs.append(x)
        targets.append(on_path.astype(np.uint8))
        have += len(keep)
    return {"inputs": np.concatenate(inputs), "targets": np.concatenate(targets)}


def generate_split(split: str, size: int, obstacle_p: float, data_seed: int) -> Dict[str, np.ndarray]:
    """`size` examples of every phase, each phase from its own seed (data_seed, split, phase)."""
    parts = [generate(size, WINDOWS[p - 1], obstacle_p, np.random.default_rng([data_seed, SPLIT_IDS[split], p]))
             for p in progress_bar(PHASES, desc=f"generating shortest paths ({split}, {size} per phase)", unit="phase")]
    return {"inputs": np.concatenate([d["inputs"] for d in parts]),
            "targets": np.concatenate([d["targets"] for d in parts]),
            "phase": np.repeat(np.array(PHASES, dtype=np.uint8), size)}


class FloatInputs:
    """The inputs are already 0/1 indicator maps: only a conversion to float, no augmentation."""

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return images.float()


class CurriculumLoader:
    """Phases 1..5 in turn over a run: the epochs are split evenly, later phases take any remainder."""

    def __init__(self, per_phase: Dict[int, TensorLoader]):
        self.per_phase, self.epochs, self.phase = per_phase, len(per_phase), PHASES[0]

    def schedule(self, epochs: int) -> None:
        """Spread the phases over a run of `epochs` epochs (called by the trainer)."""
        self.epochs = epochs

    def phase_of(self, epoch: int) -> int:
        return PHASES[min(len(PHASES) - 1, (epoch - 1) * len(PHASES) // max(self.epochs, 1))]

    def set_epoch(self, epoch: int) -> None:
        self.phase = self.phase_of(epoch)
        self.per_phase[self.phase].set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.per_phase[self.phase])

    def limited(self, batches: int) -> "CurriculumLoader":
        """Every phase's loader capped to the same seeded subset size (a capped evaluation)."""
        sub = copy.copy(self)
        sub.per_phase = {p: loader.limited(batches) for p, loader in self.per_phase.items()}
        return sub

    def __iter__(self):
        return iter(self.per_phase[self.phase])


class ShortestPaths:
    """A curriculum phase's training set (or all five in turn), with held-out sets of every phase."""

    info = DataInfo(num_classes=1, in_channels=2, image_size=GRID, task="segmentation")

    def __init__(self, root: str, phase: int, curriculum: bool, train_size: int, heldout_size: int,
                 obstacle_p: float, data_seed: int):
        self.root, self.phase, self.curriculum = Path(root), phase, curriculum
        self.sizes = {"train": train_size, "heldout": heldout_size}
        self.obstacle_p, self.data_seed = obstacle_p, data_seed

    def path(self, split: str) -> Path:
        return self.root / f"{split}_n{self.sizes[split]}_p{self.obstacle_p:g}_seed{self.data_seed}.npz"

    def availability(self) -> str:
        return MADE  # generated on first use into ROOT

    def arrays(self, split: str) -> Dict[str, np.ndarray]:
        """A split's arrays from its .npz, generated and written (atomically) on first use."""
        path = self.path(split)
        if not path.exists():
            log.info("generating %s (once; later runs read it)", path)
            data = generate_split(split, self.sizes[split], self.obstacle_p, self.data_seed)
            atomic_write(path, lambda f: np.savez(f, **data), mode="wb")
            return data
        try:
            with np.load(path) as f:
                data = {k: f[k] for k in ("inputs", "targets", "phase")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise DatasetMissingError(f"a readable shortest-paths set ({type(err).__name__}: {err})", path,
                                      "delete it; it is generated again on the next run or by "
                                      f"`python scripts/prepare_data.py shortest_paths --root {self.root}`") from None
        n = len(PHASES) * self.sizes[split]
        if data["inputs"].shape != (n, 2, GRID, GRID) or data["targets"].shape != (n, GRID, GRID):
            raise DatasetMissingError(f"{n} examples of shape [2, {GRID}, {GRID}] (found {data['inputs'].shape})",
                                      path, "delete it; it is generated again on the next run")
        return data

    def _loader(self, split: str, phase: int, batch_size: int, device: torch.device, seed: int,
                shuffle: bool, drop_last: bool = False) -> TensorLoader:
        data = self.arrays(split)
        rows = np.flatnonzero(data["phase"] == phase)
        return TensorLoader(torch.from_numpy(data["inputs"][rows]), torch.from_numpy(data["targets"][rows]),
                            batch_size, FloatInputs(), shuffle=shuffle, seed=seed, device=device,
                            drop_last=drop_last)

    def loaders(self, batch_size: int, device: torch.device, seed: int,
                eval_batch_size: Optional[int] = None, drop_last: Optional[bool] = None):
        """(training set, held-out set) of this phase, or of the current phase under the curriculum."""
        if self.curriculum:
            train = CurriculumLoader({p: self._loader("train", p, batch_size, device, seed, True, bool(drop_last))
                                      for p in PHASES})
            test = CurriculumLoader(self.heldout_loaders(eval_batch_size or batch_size, device, seed))
            return train, test
        train = self._loader("train", self.phase, batch_size, device, seed, shuffle=True, drop_last=bool(drop_last))
        test = self._loader("heldout", self.phase, eval_batch_size or batch_size, device, seed, shuffle=False)
        return train, test

    def heldout_loaders(self, batch_size: int, device: torch.device, seed: int) -> Dict[int, TensorLoader]:
        """phase -> loader over that phase's held-out set: evaluates a model on every difficulty."""
        return {p: self._loader("heldout", p, batch_size, device, seed, shuffle=False) for p in PHASES}

    def prepare(self) -> str:
        lines = []
        for split in SPLIT_IDS:
            data = self.arrays(split)
            lines.append(f"{self.path(split)}: {len(data['phase'])} examples, "
                         f"{100 * data['targets'].mean():.2f}% positive pixels")
        return "\n".join(lines)


@DATASETS.register("shortest_paths")
def shortest_paths(root: str, phase: Annotated[int, OneOf(PHASES)] = 1, curriculum: bool = False, train_size: Annotated[int, Range(ge=1)] = 5000,
                   heldout_size: Annotated[int, Range(ge=1)] = 1000, obstacle_p: Annotated[float, Range(ge=0, lt=1)] = 0.1, data_seed: Annotated[int, Range(ge=0)] = 0) -> ShortestPaths:
    """Curriculum phase `phase` (1..5): q2 within a window of side 5, 9, 13, 17, 21 around q1.

    curriculum=true trains on phases 1..5 in turn, the run's epochs split evenly among them (Fig. 5).
    """
    if phase not in PHASES:
        raise ValueError(f"dataset.phase={phase}: valid phases are {', '.join(map(str, PHASES))}")
    if not 0 <= obstacle_p < 1:
        raise ValueError(f"dataset.obstacle_p={obstacle_p}: must be in [0, 1)")
    for key, value in (("train_size", train_size), ("heldout_size", heldout_size)):
        if value < 1:
            raise ValueError(f"dataset.{key}={value}: must be >= 1")
    return ShortestPaths(root, phase, curriculum, train_size, heldout_size, obstacle_p, data_seed)
