"""ImageNet through DataLoader workers, on a fake ImageFolder tree of 1000 flat-colour classes: crop sizes,
normalisation on the device, ten-crop evaluation, and a sample order fixed by (seed, epoch)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from repeatnet_repro.data import DATASETS, DatasetMissingError
from repeatnet_repro.data.imagenet import MEAN, STD

CPU = torch.device("cpu")


def level(k: int) -> int:
    return k % 250


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    for split in ("train", "val"):
        for k in range(1000):
            folder = root / split / f"n{k:08d}"
            folder.mkdir(parents=True)
            Image.new("RGB", (40, 30), (level(k),) * 3).save(folder / f"{split}_{k}.png")
    return root


def expected_value(k: torch.Tensor, channel: int) -> torch.Tensor:
    return (k.remainder(250).float() / 255 - MEAN[channel]) / STD[channel]


def test_training_batches_are_normalised_224_crops_in_channels_last(root):
    src = DATASETS.build({"name": "imagenet", "root": str(root), "workers": 0})
    train, _ = src.loaders(batch_size=8, device=CPU, seed=0)
    x, y = next(iter(train))
    assert x.shape == (8, 3, 224, 224) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    for c in range(3):  # a crop of a flat image is flat: every pixel is the class's normalised level
        assert torch.allclose(x[:, c], expected_value(y, c).view(8, 1, 1).expand(8, 224, 224), atol=1e-5)
    assert len(train) == 1000 // 8


def test_sample_order_depends_only_on_seed_and_epoch(root):
    src = DATASETS.build({"name": "imagenet", "root": str(root), "workers": 0})
    a, _ = src.loaders(batch_size=16, device=CPU, seed=3)
    b, _ = src.loaders(batch_size=16, device=CPU, seed=3)
    first = next(iter(a))[1]
    assert torch.equal(first, next(iter(b))[1])
    a.set_epoch(1)
    assert not torch.equal(first, next(iter(a))[1])


def test_colour_jitter_and_pca_lighting_are_train_only_and_only_lighting_tints_grey(root):
    """fb.resnet.torch: brightness / contrast / saturation leave a grey image grey; PCA lighting adds a colour."""
    def batches(**options):
        src = DATASETS.build({"name": "imagenet", "root": str(root), "workers": 0, **options})
        train, test = src.loaders(batch_size=32, device=CPU, seed=0)
        x = next(iter(train))[0]
        return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1), next(iter(test))[0]

    plain, plain_test = batches()
    jitter, jitter_test = batches(color_jitter=0.4)
    lit, lit_test = batches(color_jitter=0.4, lighting=0.1)
    assert torch.equal(plain_test, jitter_test) and torch.equal(plain_test, lit_test)
    grey = lambda x: (x - x.mean(1, keepdim=True)).abs().amax((1, 2, 3))  # noqa: E731
    assert grey(plain).max() < 1e-5 and grey(jitter).max() < 1e-5
    assert not torch.allclose(plain, jitter, atol=1e-3), "brightness / contrast change the grey level"
    assert (grey(lit) > 1e-5).all(), "lighting shifts the channels apart (mostly along the grey eigenvector)"


def test_ten_crop_and_centre_crop_evaluation(root):
    ten = DATASETS.build({"name": "imagenet", "root": str(root), "workers": 1, "eval_crops": 10})
    x, y = next(iter(ten.loaders(batch_size=4, device=CPU, seed=0)[1]))
    assert x.shape == (4, 10, 3, 224, 224)
    assert y.tolist() == [0, 1, 2, 3], "evaluation keeps the folder order"
    assert torch.allclose(x[:, :, 0], expected_value(y, 0).view(4, 1, 1, 1).expand(4, 10, 224, 224), atol=1e-5)
    one = DATASETS.build({"name": "imagenet", "root": str(root), "workers": 0})
    assert next(iter(one.loaders(batch_size=4, device=CPU, seed=0)[1]))[0].shape == (4, 3, 224, 224)


def test_layout_errors_name_path_and_fix(tmp_path, root):
    with pytest.raises(DatasetMissingError, match=r"nowhere/train.*image-net\.org"):
        DATASETS.build({"name": "imagenet", "root": str(tmp_path / "nowhere")}).loaders(8, CPU, 0)
    (tmp_path / "train" / "n1").mkdir(parents=True)
    (tmp_path / "val" / "n2").mkdir(parents=True)
    for split, c in (("train", "n1"), ("val", "n2")):
        Image.new("RGB", (8, 8)).save(tmp_path / split / c / "a.png")
    with pytest.raises(DatasetMissingError, match="same class folders"):
        DATASETS.build({"name": "imagenet", "root": str(tmp_path)}).loaders(8, CPU, 0)
    with pytest.raises(ValueError, match="dataset.crop=300"):
        DATASETS.build({"name": "imagenet", "root": str(root), "crop": 300})
