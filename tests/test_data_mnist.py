"""`dataset=mnist`: torchvision's raw layout, read from the real offline copy when it is present."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from conftest import SHARED_DATA
from repeatnet_repro.data import DatasetMissingError, build_data

UNPACK = SHARED_DATA.parent / "tools" / "unpack_data.py"


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    if not (SHARED_DATA / "mnist.npz").exists():
        pytest.skip("real MNIST copy (../shared/data/mnist.npz) absent")
    root = tmp_path_factory.mktemp("mnist")
    subprocess.run([sys.executable, str(UNPACK), "mnist", str(root)], check=True, capture_output=True)
    return root


def test_real_mnist_in_official_order_normalised_and_cropped(mnist_root):
    source = build_data({"name": "mnist", "root": str(mnist_root), "train_size": 1000})
    train, test = source.loaders(256, torch.device("cpu"), seed=0)
    assert len(train.targets) == 1000 and len(test.targets) == 10_000
    assert train.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    x, _ = next(iter(test))
    assert x.shape == (256, 1, 28, 28)
    assert abs(x.mean().item()) < 0.1  # normalised with the training mean/std (test mean 33.79/255)


def test_missing_mnist_names_the_folder_and_the_fix(tmp_path):
    source = build_data({"name": "mnist", "root": str(tmp_path)})
    with pytest.raises(DatasetMissingError, match=r"MNIST/raw.*unpack_data.py mnist"):
        source.loaders(8, torch.device("cpu"), seed=0)


def test_train_size_out_of_range_names_the_key():
    with pytest.raises(ValueError, match="dataset.train_size=0"):
        build_data({"name": "mnist", "root": "/nowhere", "train_size": 0})
