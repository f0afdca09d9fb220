"""A capped evaluation (budget.max_eval_batches, the smoke budget) sees a fixed class-balanced subset of the
test set, never its first N images: a test set stored sorted by class would give one class only."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import read_summary, run_entrypoint
from repeatnet_repro.data.augment import BatchAugment
from repeatnet_repro.data.shortest_paths import CurriculumLoader
from repeatnet_repro.data.tensor_loader import TensorLoader
from repeatnet_repro.data.worker_loader import WorkerLoader

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def sorted_by_class(per_class: int = 50):
    labels = torch.arange(10).repeat_interleave(per_class)
    return torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8), labels


def test_a_capped_tensor_loader_takes_every_class_in_turn_the_same_subset_every_time():
    images, labels = sorted_by_class()
    loader = TensorLoader(images, labels, 8, BatchAugment([0.5], [0.25], train=False), shuffle=False, seed=3)
    seen = torch.cat([y for _, y in loader.limited(3)])
    assert len(seen) == 24 and seen.bincount(minlength=10).min() == 2 and seen.bincount().max() == 3
    other_seed = TensorLoader(images, labels, 8, BatchAugment([0.5], [0.25], train=False), shuffle=False, seed=9)
    assert torch.equal(seen, torch.cat([y for _, y in other_seed.limited(3)])), "fixed: not the run's seed"
    assert len(loader.limited(1000).targets) == len(labels), "a cap above the set is the whole set"


def test_a_capped_worker_loader_balances_an_image_folder_by_its_targets(tmp_path):
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    for k, c in enumerate(CLASSES[:4]):
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.new("RGB", (8, 8), (k * 60, i, 0)).save(tmp_path / c / f"{i}.png")
    folder = ImageFolder(str(tmp_path), transform=v2.PILToTensor())
    loader = WorkerLoader(folder, 4, False, 0, torch.device("cpu"), (0.5,) * 3, (0.25,) * 3, workers=0)
    seen = torch.cat([y for _, y in loader.limited(2)])
    assert seen.bincount().tolist() == [2, 2, 2, 2]


def test_capped_segmentation_targets_are_a_seeded_shuffle_of_every_phase():
    maps = torch.arange(40, dtype=torch.uint8).view(40, 1, 1).expand(40, 2, 2).contiguous()
    per_phase = {p: TensorLoader(torch.zeros(40, 2, 2, 2), maps, 4, lambda x, g: x.float(), False, 0)
                 for p in (1, 2)}
    capped = CurriculumLoader(per_phase).limited(2)
    rows = [int(y[0, 0]) for _, ys in capped for y in ys]
    assert len(rows) == 8 and rows != list(range(8)), "not the first eight"
    assert rows == [int(y[0, 0]) for _, ys in CurriculumLoader(per_phase).limited(2) for y in ys]


def write_sorted_folder(root: Path) -> None:
    """Train: 40 images of class 0 and one of every other class (a model learns to answer 0); test: 16 per
    class, stored class after class as an ImageFolder copy of CIFAR-10 is."""
    for split, counts in (("train", [40] + [1] * 9), ("test", [16] * 10)):
        for k, (c, n) in enumerate(zip(CLASSES, counts)):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (32, 32), (k * 20, i, 128)).save(root / split / c / f"{i:04d}.png")


@pytest.mark.slow
def test_smoke_evaluation_on_a_class_sorted_test_set_sees_every_class(tmp_path):
    write_sorted_folder(tmp_path / "cifar10")
    run_dir = tmp_path / "run"
    proc = run_entrypoint("dataset=cifar10", "dataset.format=folder", f"dataset.root={tmp_path / 'cifar10'}",
                          "model=convnet", "model.widths=[8,16]", "budget=smoke", "budget.max_epochs=6",
                          "budget.max_train_batches=null", "trainer.epochs=6", "logger=none",
                          "trainer.progress=false", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(run_dir)
    assert summary["batch_size"] == {"train": 16, "eval": 16}, "smoke caps the batch size, and says so"
    # a model that answers 0 scores 3 or 4 of the 32 images of the balanced subset; on the first 32 (16 of
    # class 0, 16 of class 1) it would score 50 %
    assert summary["final"]["test_acc"] < 40.0
