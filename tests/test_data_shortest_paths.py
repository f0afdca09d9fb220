"""Shortest-path data (soft-sharing Fig. 5): labels are exactly the union of all shortest paths, found by
an independent BFS; every curriculum phase keeps q2 inside its window; splits are fixed by seed."""
from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from conftest import read_metrics, run_entrypoint
from repeatnet_repro.data import DATASETS, DatasetMissingError
from repeatnet_repro.data.shortest_paths import GRID, WINDOWS

SIZE = 40  # examples per phase: small, but every label of every example is checked


def bfs(free: np.ndarray, start: tuple) -> dict:
    """Plain queue BFS over 4-neighbours: {cell: distance} for every reachable free cell."""
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < GRID and 0 <= nc < GRID and free[nr, nc] and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    return dist


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("sp")
    return DATASETS.build({"name": "shortest_paths", "root": str(root), "phase": 3, "train_size": SIZE,
                           "heldout_size": SIZE // 2})


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_every_label_is_on_a_shortest_path_and_windows_hold(source, split):
    data = source.arrays(split)
    n = 5 * (SIZE if split == "train" else SIZE // 2)
    assert data["inputs"].shape == (n, 2, GRID, GRID) and data["targets"].shape == (n, GRID, GRID)
    assert data["inputs"].dtype == np.uint8 and data["targets"].dtype == np.uint8
    for x, y, phase in zip(data["inputs"], data["targets"], data["phase"]):
        queries, obstacles = x[0].astype(bool), x[1].astype(bool)
        q1, q2 = [tuple(map(int, q)) for q in np.argwhere(queries)]
        assert not (queries & obstacles).any(), "queries and obstacles are disjoint"
        half = WINDOWS[phase - 1] // 2
        assert q1 != q2 and max(abs(q1[0] - q2[0]), abs(q1[1] - q2[1])) <= half, f"phase {phase} window"
        d1, d2 = bfs(~obstacles, q1), bfs(~obstacles, q2)
        assert q2 in d1, "q2 is reachable"
        expected = np.zeros((GRID, GRID), dtype=np.uint8)
        for cell, d in d1.items():
            if cell in d2 and d + d2[cell] == d1[q2]:
                expected[cell] = 1
        assert np.array_equal(y, expected)
        assert y[q1] == 1 and y[q2] == 1 and y.sum() >= d1[q2] + 1  # a path has d + 1 cells


def test_phases_are_in_order_and_windows_grow(source):
    data = source.arrays("train")
    assert data["phase"].tolist() == sorted(data["phase"].tolist())
    assert np.bincount(data["phase"]).tolist() == [0] + [SIZE] * 5
    spread = []
    for p in range(1, 6):
        q = [np.argwhere(x[0]) for x in data["inputs"][data["phase"] == p]]
        spread.append(max(np.abs(a[0] - a[1]).max() for a in q))
    assert spread == sorted(spread) and spread[-1] > WINDOWS[0] // 2  # harder phases reach further


def test_splits_have_fixed_distinct_seeds(source, tmp_path):
    again = DATASETS.build({"name": "shortest_paths", "root": str(tmp_path), "phase": 3, "train_size": SIZE,
                            "heldout_size": SIZE // 2})
    a, b = source.arrays("train"), again.arrays("train")
    assert all(np.array_equal(a[k], b[k]) for k in ("inputs", "targets", "phase")), "same seed, same data"
    held = source.arrays("heldout")
    assert not np.array_equal(held["inputs"][:SIZE // 2], a["inputs"][:SIZE // 2]), "held-out != train"
    other = DATASETS.build({"name": "shortest_paths", "root": str(tmp_path), "phase": 3, "train_size": SIZE,
                            "heldout_size": SIZE // 2, "data_seed": 1})
    assert not np.array_equal(other.arrays("train")["inputs"], a["inputs"])


def test_npz_on_disk_is_inspectable_and_reused(source):
    path = source.path("train")
    with np.load(path) as f:
        assert sorted(f.files) == ["inputs", "phase", "targets"]
        assert f["inputs"].shape == (5 * SIZE, 2, GRID, GRID) and f["targets"].shape == (5 * SIZE, GRID, GRID)
    before = path.stat().st_mtime_ns
    source.arrays("train")
    assert path.stat().st_mtime_ns == before, "the cached file is read, not regenerated"


def test_loaders_yield_float_inputs_and_heldout_sets_of_every_phase(source):
    train, test = source.loaders(batch_size=16, device=torch.device("cpu"), seed=0)
    x, y = next(iter(train))
    assert x.dtype == torch.float32 and x.shape == (16, 2, GRID, GRID) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert y.dtype == torch.uint8 and y.shape == (16, GRID, GRID)
    assert len(train) == -(-SIZE // 16) and len(test) == -(-(SIZE // 2) // 16)
    held = source.heldout_loaders(batch_size=8, device=torch.device("cpu"), seed=0)
    assert sorted(held) == [1, 2, 3, 4, 5]
    for phase, loader in held.items():
        half = WINDOWS[phase - 1] // 2
        for x, _ in loader:
            q = [torch.nonzero(m) for m in x[:, 0]]
            assert all((a[0] - a[1]).abs().max() <= half for a in q)


@pytest.mark.slow
def test_a_curriculum_run_records_the_phase_each_epoch_trained_on(tmp_path):
    """Ten epochs split evenly over phases 1..5: two epochs each, recorded as train_phase (Fig. 5's x axis)."""
    proc = run_entrypoint("experiment=softshare/fig5", "budget=smoke", "budget.max_epochs=10", "trainer.epochs=10",
                          "logger=none", "trainer.progress=false", "trainer.device=cpu", "trainer.batch_size=4",
                          "dataset.train_size=8", "dataset.heldout_size=4", f"dataset.root={tmp_path / 'grids'}",
                          f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [m["train_phase"] for m in read_metrics(tmp_path / "run")] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_corrupt_file_names_path_and_fix(tmp_path):
    src = DATASETS.build({"name": "shortest_paths", "root": str(tmp_path), "train_size": 4, "heldout_size": 2})
    src.path("train").write_bytes(b"not an npz")
    with pytest.raises(DatasetMissingError, match=r"train_n4_p0\.1_seed0\.npz.*prepare_data\.py shortest_paths"):
        src.arrays("train")


@pytest.mark.parametrize("opts, key", [({"phase": 6}, "dataset.phase=6"), ({"obstacle_p": 1.0}, "obstacle_p"),
                                       ({"train_size": 0}, "train_size")])
def test_bad_options_name_the_key(opts, key, tmp_path):
    with pytest.raises(ValueError, match=key):
        DATASETS.build({"name": "shortest_paths", "root": str(tmp_path), **opts})
