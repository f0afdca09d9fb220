"""Rotated MNIST: the official .amat pair parsed from a fake, the `rotated` variant built from a fake (and
the real) MNIST raw layout, 29x29 padding, and the authors' training augmentation."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from repeatnet_repro.data import DATASETS, DatasetMissingError
from repeatnet_repro.data.rotmnist import TEST_AMAT, TRAIN_AMAT

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CPU = torch.device("cpu")


def write_amat(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One row per image: 784 floats in [0, 1] (row-major 28x28), then the label as a float."""
    rows = np.concatenate([images.reshape(len(images), -1) / 255.0, labels[:, None]], axis=1)
    np.savetxt(path, rows, fmt="%.10f")


def test_official_amat_pair_parses_and_pads_to_29(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 256, (5, 28, 28))
    ytr, yte = rng.integers(0, 10, 7), rng.integers(0, 10, 5)
    write_amat(tmp_path / TRAIN_AMAT, train, ytr)
    write_amat(tmp_path / TEST_AMAT, test, yte)
    src = DATASETS.build({"name": "rotmnist", "root": str(tmp_path), "mnist_root": str(tmp_path)})
    t = src.tensors()
    assert t["train_images"].shape == (7, 1, 29, 29) and t["test_images"].shape == (5, 1, 29, 29)
    assert torch.equal(t["train_images"][:, 0, :28, :28], torch.from_numpy(train.astype(np.uint8)))
    assert t["train_images"][:, :, 28].eq(0).all() and t["train_images"][:, :, :, 28].eq(0).all(), \
        "one zero row at the bottom, one zero column at the right"
    assert t["test_labels"].tolist() == yte.tolist()
    assert src.info.image_size == 29 and src.info.in_channels == 1


def test_corrupt_and_missing_amat_name_path_and_fix(tmp_path):
    np.savetxt(tmp_path / TRAIN_AMAT, np.zeros((2, 784)))  # label column missing
    np.savetxt(tmp_path / TEST_AMAT, np.zeros((2, 785)))
    src = DATASETS.build({"name": "rotmnist", "root": str(tmp_path), "mnist_root": str(tmp_path)})
    with pytest.raises(DatasetMissingError, match=rf"785 columns.*{TRAIN_AMAT}.*prepare_data\.py rotmnist"):
        src.tensors()
    empty = DATASETS.build({"name": "rotmnist", "root": str(tmp_path / "none"), "mnist_root": str(tmp_path)})
    with pytest.raises(DatasetMissingError, match=r"none/mnist_all_rotation.*variant=rotated"):
        empty.tensors()


def disk(radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:28, :28] - 13.5
    return ((yy ** 2 + xx ** 2) <= radius ** 2).astype(np.uint8) * 255


def write_mnist_raw(root: Path) -> None:
    """torchvision's raw layout; digit k is a disk of radius 3 + k, so its label survives any rotation."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n, offset in (("train", 60000, 0), ("t10k", 10000, 3)):
        labels = ((np.arange(n) + offset) % 10).astype(np.uint8)
        images = np.stack([disk(3 + k) for k in range(10)])[labels]
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    write_mnist_raw(root)
    return root


def test_rotated_variant_keeps_labels_sizes_and_is_seeded(fake_mnist, tmp_path):
    opts = {"name": "rotmnist", "mnist_root": str(fake_mnist), "variant": "rotated"}
    t = DATASETS.build({**opts, "root": str(tmp_path / "a")}).tensors()
    assert t["train_images"].shape == (12000, 1, 29, 29) and t["test_images"].shape == (50000, 1, 29, 29)
    masses = torch.tensor([disk(3 + k).sum() for k in range(10)], dtype=torch.float64)
    for split in ("train", "test"):
        mass = t[f"{split}_images"].double().sum((1, 2, 3))
        nearest = (mass.view(-1, 1) - masses.view(1, -1)).abs().argmin(1)
        assert torch.equal(nearest, t[f"{split}_labels"]), "each rotated image keeps its own label"
    again = DATASETS.build({**opts, "root": str(tmp_path / "b")}).tensors()
    assert torch.equal(again["test_images"], t["test_images"]), "a fixed seed gives the same set"
    other = DATASETS.build({**opts, "root": str(tmp_path / "c"), "data_seed": 1}).tensors()
    assert not torch.equal(other["train_labels"], t["train_labels"])


def test_rotation_augmentation_is_train_only(fake_mnist, tmp_path):
    opts = {"name": "rotmnist", "mnist_root": str(fake_mnist), "variant": "rotated", "root": str(tmp_path)}
    plain_train, plain_test = DATASETS.build({**opts, "rotate": False}).loaders(64, CPU, seed=0)
    rot_train, rot_test = DATASETS.build({**opts, "rotate": True}).loaders(64, CPU, seed=0)
    assert torch.equal(next(iter(plain_test))[0], next(iter(rot_test))[0])
    assert not torch.allclose(next(iter(plain_train))[0], next(iter(rot_train))[0])


def test_defaults_are_the_authors_pipeline_rotation_at_87px_both_flips_and_no_normalisation(tmp_path):
    """RepeatNet main.py: Pad, Resize(87), RandomRotation(180), Random{Vertical,Horizontal}Flip, Resize(29),
    ToTensor (no Normalize, at test time either)."""
    rng = np.random.default_rng(0)
    write_amat(tmp_path / TRAIN_AMAT, rng.integers(0, 256, (64, 28, 28)), rng.integers(0, 10, 64))
    write_amat(tmp_path / TEST_AMAT, rng.integers(0, 256, (8, 28, 28)), rng.integers(0, 10, 8))
    src = DATASETS.build({"name": "rotmnist", "root": str(tmp_path), "mnist_root": str(tmp_path)})
    train, test = src.loaders(64, CPU, seed=0)
    aug = train.augment
    assert (aug.rotate, aug.upsample, aug.vflip, aug.flip, aug.pad_crop, aug.cutout) == (True, 3, True, True, 0, 0)
    assert torch.equal(next(iter(test))[0], src.tensors()["test_images"].float() / 255), "[0, 1] pixels as they are"
    x = next(iter(train))[0]
    assert x.min() >= 0 and x.max() <= 1
    normalised = DATASETS.build({"name": "rotmnist", "root": str(tmp_path), "mnist_root": str(tmp_path),
                                 "normalize": True}).loaders(64, CPU, seed=0)[1]
    pixels = src.tensors()["train_images"].float() / 255
    assert torch.allclose(next(iter(normalised))[0], (next(iter(test))[0] - pixels.mean()) / pixels.std(),
                          atol=1e-5), "normalize=true: by the training pixels' mean / std"


def test_missing_mnist_names_the_raw_folder_and_fix(tmp_path):
    src = DATASETS.build({"name": "rotmnist", "root": str(tmp_path), "mnist_root": str(tmp_path / "m"),
                          "variant": "rotated"})
    with pytest.raises(DatasetMissingError, match=r"m/MNIST/raw.*unpack_data\.py mnist"):
        src.tensors()
    with pytest.raises(ValueError, match="dataset.variant=mnist"):
        DATASETS.build({"name": "rotmnist", "root": "x", "mnist_root": "x", "variant": "mnist"})


@pytest.mark.skipif(not (SHARED / "data" / "mnist.npz").exists(), reason="offline MNIST copy not present")
def test_real_mnist_builds_the_rotated_set_with_verified_checksums(tmp_path):
    subprocess.run([sys.executable, str(SHARED / "tools" / "unpack_data.py"), "mnist", str(tmp_path)], check=True,
                   capture_output=True)
    src = DATASETS.build({"name": "rotmnist", "root": str(tmp_path / "rot"), "mnist_root": str(tmp_path),
                          "variant": "rotated"})
    summary = src.prepare()
    assert "md5 of the 4 MNIST idx files verified" in summary
    t = src.tensors()
    per_class = t["train_labels"].bincount() + t["test_labels"].bincount()
    official = torch.tensor([6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958])  # train + test
    assert per_class.sum() == 62000 and (per_class <= official).all()
    mean = t["train_images"].double().mean() * 29 * 29 / (28 * 28)
    assert abs(mean - 33.3) < 1.0, "rotation keeps MNIST's mean ink (33.3 of 255)"
