"""CIFAR loaders on fakes in both real on-disk layouts (python batch pickles, ImageFolder tree), the
validation split, the cache, the error messages, and the real offline CIFAR-10 copy when present."""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repeatnet_repro.data import DATASETS, DatasetMissingError
from repeatnet_repro.data.cifar import SPECS

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CPU = torch.device("cpu")


def write_batches(root: Path, name: str, per_batch: int = 6) -> dict:
    """Official layout: pickled dicts {'data': uint8 [N, 3072] (R plane, G plane, B plane), labels}."""
    rel = SPECS[name].release
    folder = root / rel.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = {}
    for split, files in (("train", rel.train_list), ("test", rel.test_list)):
        images, labels = [], []
        for fname, _ in files:
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            y = rng.integers(0, SPECS[name].num_classes, per_batch).tolist()
            with open(folder / fname, "wb") as f:
                pickle.dump({"data": data, SPECS[name].label_key: y, "batch_label": fname}, f)
            images.append(data)
            labels += y
        out[split] = (np.concatenate(images).reshape(-1, 3, 32, 32), np.array(labels))
    return out


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_python_batches_decode_in_channel_plane_order(tmp_path, name):
    truth = write_batches(tmp_path, name)
    src = DATASETS.build({"name": name, "root": str(tmp_path)})
    t = src.tensors()
    assert t["train_images"].shape == (len(SPECS[name].release.train_list) * 6, 3, 32, 32)
    assert torch.equal(t["train_images"], torch.from_numpy(truth["train"][0]))
    assert torch.equal(t["test_labels"], torch.from_numpy(truth["test"][1]))
    # the first 1024 bytes of a row are the red plane, row-major
    row = truth["train"][0].reshape(-1, 3072)[0]
    assert torch.equal(t["train_images"][0, 0].flatten(), torch.from_numpy(row[:1024]))
    assert (tmp_path / "cache" / "torchvision.pt").is_file()


def test_cache_is_read_back_instead_of_the_source(tmp_path):
    write_batches(tmp_path, "cifar10")
    first = DATASETS.build({"name": "cifar10", "root": str(tmp_path)}).tensors()
    for f in (tmp_path / "cifar-10-batches-py").iterdir():
        f.unlink()
    again = DATASETS.build({"name": "cifar10", "root": str(tmp_path)}).tensors()
    assert torch.equal(first["train_images"], again["train_images"])


def test_validation_split_holds_out_training_images(tmp_path):
    write_batches(tmp_path, "cifar10", per_batch=10)  # 50 train, 10 test
    base = {"name": "cifar10", "root": str(tmp_path), "val_size": 8}
    only_val = DATASETS.build({**base, "eval_split": "val"})
    (xtr, ytr), (xval, yval) = only_val.splits()["train"], only_val.splits()["eval"]
    assert len(ytr) == 42 and len(yval) == 8
    assert not only_val.holds_validation, "eval_split=val: the validation split is what test_* measure"
    everything = DATASETS.build({"name": "cifar10", "root": str(tmp_path)}).splits()["train"][0]
    rows = {bytes(x.numpy()) for x in everything}
    train_rows, val_rows = {bytes(x.numpy()) for x in xtr}, {bytes(x.numpy()) for x in xval}
    assert not train_rows & val_rows and train_rows | val_rows == rows, "a partition of the training set"
    beside = DATASETS.build({**base, "eval_split": "test"})
    parts = beside.splits()
    assert torch.equal(parts["train"][0], xtr), "the final run trains on the same 45k-style subset"
    assert len(parts["eval"][1]) == 10, "eval_split=test evaluates on the test batch"
    assert beside.holds_validation and torch.equal(parts["val"][0], xval), "and on the same validation split"
    val_loader = beside.validation_loader(batch_size=3, device=CPU, seed=0)
    assert sum(len(y) for _, y in val_loader) == 8
    assert DATASETS.build({"name": "cifar10", "root": str(tmp_path)}).validation_loader(3, CPU, 0) is None


def test_loaders_augment_training_batches_only(tmp_path):
    write_batches(tmp_path, "cifar10")
    src = DATASETS.build({"name": "cifar10", "root": str(tmp_path), "cutout": 16})
    train, test = src.loaders(batch_size=4, device=CPU, seed=0)
    x, y = next(iter(test))
    spec = SPECS["cifar10"]
    raw = src.tensors()["test_images"][:4].float() / 255
    expected = (raw - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    assert torch.allclose(x, expected, atol=1e-6), "evaluation: normalisation only"
    xb, _ = next(iter(train))
    assert xb.shape == (4, 3, 32, 32)
    holes = (xb == 0).all(dim=1).sum(dim=(1, 2))
    assert (holes >= 64).all(), "cutout zeroes a (clipped) 16x16 square after normalisation"


def write_folder(root: Path, classes, per_class: int, fmt: str = "PNG") -> None:
    for split in ("train", "test"):
        for k, c in enumerate(classes):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", (32, 32), (k * 20, i, 255 - k)).save(root / split / c / f"{i:04d}.{fmt.lower()}", fmt)


def test_folder_layout_labels_come_from_sorted_class_folders(tmp_path):
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write_folder(tmp_path, classes, per_class=2)
    t = DATASETS.build({"name": "cifar10", "root": str(tmp_path), "format": "folder"}).tensors()
    assert t["train_images"].shape == (20, 3, 32, 32) and t["train_images"].dtype == torch.uint8
    assert torch.equal(t["train_images"][:, 0, 0, 0], t["train_labels"] * 20), "class k has red = 20k"
    assert torch.equal(t["test_labels"], torch.arange(10).repeat_interleave(2))


def test_folder_with_wrong_class_count_or_size_is_rejected(tmp_path):
    write_folder(tmp_path, ["a", "b"], per_class=1)
    with pytest.raises(DatasetMissingError, match="10 matching class folders"):
        DATASETS.build({"name": "cifar10", "root": str(tmp_path), "format": "folder"}).tensors()
    other = tmp_path / "big"
    (other / "train" / "a").mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(other / "train" / "a" / "x.png")
    with pytest.raises(DatasetMissingError, match="expected 32x32"):
        DATASETS.build({"name": "cifar10", "root": str(other), "format": "folder"}).tensors()


def test_missing_data_names_path_and_command(tmp_path):
    with pytest.raises(DatasetMissingError) as err:
        DATASETS.build({"name": "cifar100", "root": str(tmp_path / "nowhere")}).tensors()
    msg = str(err.value)
    assert str(tmp_path / "nowhere" / "cifar-100-python" / "train") in msg
    assert "scripts/prepare_data.py cifar100 --root" in msg and "dataset.download=true" in msg
    with pytest.raises(DatasetMissingError, match=r"nowhere/train.*format=torchvision"):
        DATASETS.build({"name": "cifar10", "root": str(tmp_path / "nowhere"), "format": "folder"}).tensors()


def test_corrupt_batch_names_path_and_command(tmp_path):
    write_batches(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DatasetMissingError, match=r"data_batch_3.*delete it and run: .*prepare_data\.py cifar10"):
        DATASETS.build({"name": "cifar10", "root": str(tmp_path)}).tensors()


def test_prepare_checks_the_official_md5(tmp_path):
    write_batches(tmp_path, "cifar10")  # fake contents: their md5 cannot match the release
    src = DATASETS.build({"name": "cifar10", "root": str(tmp_path)})
    assert not src.verify()
    with pytest.raises(DatasetMissingError, match="published md5"):
        src.prepare()


@pytest.mark.parametrize("opts, key", [
    ({"format": "npz"}, "dataset.format=npz"), ({"eval_split": "val"}, "val_size"),
    ({"eval_split": "dev"}, "dataset.eval_split=dev"), ({"cutout": -1}, "dataset.cutout"),
    ({"val_size": 50000}, "dataset.val_size=50000")])
def test_bad_options_name_the_key(opts, key):
    with pytest.raises(ValueError, match=key):
        DATASETS.build({"name": "cifar10", "root": "x", **opts})


@pytest.mark.skipif(not (SHARED_DATA / "cifar10-jpeg.npz").exists(), reason="offline CIFAR-10 copy not present")
def test_real_cifar10_test_split_decodes_to_the_published_pixels(tmp_path):
    """The real offline test split, written as unpack_data.py does, decodes (Pillow + libjpeg-turbo) to the
    pixel sha256 its README publishes, in class-then-file order, 1000 images per class."""
    d = np.load(SHARED_DATA / "cifar10-jpeg.npz")
    classes = [str(c) for c in d["classes"]]
    for split, count in (("train", 3), ("test", None)):
        buf, off, labels = d[f"{split}_jpeg"], d[f"{split}_offsets"], d[f"{split}_labels"]
        for c in classes:
            (tmp_path / split / c).mkdir(parents=True)
        for i in range(len(labels)) if count is None else [int(np.flatnonzero(labels == k)[j])
                                                             for k in range(10) for j in range(count)]:
            (tmp_path / split / classes[labels[i]] / f"{i:05d}.jpg").write_bytes(buf[off[i]:off[i + 1]].tobytes())
    t = DATASETS.build({"name": "cifar10", "root": str(tmp_path), "format": "folder"}).tensors()
    pixels = t["test_images"].permute(0, 2, 3, 1).contiguous().numpy()
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == (
        "5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f")
    assert t["test_labels"].bincount().tolist() == [1000] * 10
    assert t["train_images"].shape == (30, 3, 32, 32)
