"""Tiny ImageNet on a fake of the official zip's layout: val/ is reorganised from val_annotations.txt,
labels follow the class folders, training crops are 56x56 and evaluation yields ten crops per image."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from repeatnet_repro.data import DATASETS, DatasetMissingError
from repeatnet_repro.data.tinyimagenet import MEAN, STD, reorganise_val
from repeatnet_repro.engine.loop import Step, evaluate
from repeatnet_repro.engine.tasks import Classification

WNIDS = [f"n{k:08d}" for k in range(200)]


def colour(k: int) -> tuple:
    """Class k as a flat colour on a 15 x 14 grid of (red, green) levels 17 apart: JPEG's few levels of
    error cannot move it to a neighbour."""
    return (17 * (k % 15) + 8, 17 * (k // 15) + 8, 128)


def read_colour(red: torch.Tensor, green: torch.Tensor) -> torch.Tensor:
    return ((red - 8) / 17).round().long() + 15 * ((green - 8) / 17).round().long()


def write_fake(root: Path) -> None:
    """tiny-imagenet-200/{wnids.txt, train/<wnid>/images/<wnid>_0.JPEG, val/images/, val_annotations.txt}."""
    top = root / "tiny-imagenet-200"
    (top / "val" / "images").mkdir(parents=True)
    (top / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    notes = []
    for k, wnid in enumerate(WNIDS):
        (top / "train" / wnid / "images").mkdir(parents=True)
        Image.new("RGB", (64, 64), colour(k)).save(top / "train" / wnid / "images" / f"{wnid}_0.JPEG")
        (top / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t63\t63\n")
        v = 199 - k  # val files in a different order than the classes
        Image.new("L" if k == 5 else "RGB", (64, 64), 7 if k == 5 else colour(k)).save(
            top / "val" / "images" / f"val_{v}.JPEG")
        notes.append(f"val_{v}.JPEG\t{wnid}\t0\t0\t63\t63")
    (top / "val" / "val_annotations.txt").write_text("\n".join(notes) + "\n")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_fake(root)
    return DATASETS.build({"name": "tinyimagenet", "root": str(root)})


def test_val_is_reorganised_into_class_folders(source):
    t = source.tensors()
    val = source.folder / "val"
    assert not (val / "images").exists()
    assert (val / WNIDS[3] / "val_196.JPEG").is_file()
    assert reorganise_val(val) == 0, "a second call changes nothing"
    assert t["test_images"].shape == (200, 3, 64, 64) and t["train_images"].shape == (200, 3, 64, 64)
    labels = t["test_labels"]
    rgb = labels != 5
    found = read_colour(t["test_images"][:, 0, 32, 32].float(), t["test_images"][:, 1, 32, 32].float())
    assert torch.equal(found[rgb], labels[rgb]), "each val image got its annotated class"
    assert (t["test_images"][labels == 5] == t["test_images"][labels == 5][:, :1]).all(), "grey -> RGB"


def test_training_crops_are_56_and_evaluation_averages_ten_crops(source):
    train, test = source.loaders(batch_size=32, device=torch.device("cpu"), seed=0)
    x, y = next(iter(train))
    assert x.shape == (32, 3, 56, 56) and y.dtype == torch.int64
    xt, yt = next(iter(test))
    assert xt.shape == (32, 10, 3, 56, 56)
    assert torch.equal(xt[:, 5], xt[:, 0].flip(-1)), "crops 5..9 mirror crops 0..4"

    class RedReader(torch.nn.Module):
        """Predicts the class written into the colour (undoing the normalisation)."""

        def forward(self, inp):
            red, green = [(inp[:, c].mean((1, 2)) * STD[c] + MEAN[c]) * 255 for c in (0, 1)]
            return 10 * torch.nn.functional.one_hot(read_colour(red, green).clamp(0, 199), 200).float()

    metrics = evaluate(RedReader(), test, Classification(200), Step(torch.device("cpu"), False, False, None))
    assert set(metrics) == {"loss", "acc", "top5"}, "top-1 and top-5 over the crops' averaged softmax"
    assert metrics["acc"] == pytest.approx(100 * 199 / 200), "all but the grey image of class 5"


def test_single_centre_crop_option(source):
    one = DATASETS.build({"name": "tinyimagenet", "root": str(source.root), "eval_crops": 1})
    x, _ = next(iter(one.loaders(batch_size=8, device=torch.device("cpu"), seed=0)[1]))
    assert x.shape == (8, 3, 56, 56)


def test_missing_annotations_and_missing_tree_name_path_and_fix(tmp_path):
    (tmp_path / "tiny-imagenet-200" / "val" / "images").mkdir(parents=True)
    with pytest.raises(DatasetMissingError, match="val_annotations.txt"):
        DATASETS.build({"name": "tinyimagenet", "root": str(tmp_path)}).tensors()
    with pytest.raises(DatasetMissingError, match=r"nowhere/tiny-imagenet-200/train.*prepare_data\.py tinyimagenet"):
        DATASETS.build({"name": "tinyimagenet", "root": str(tmp_path / "nowhere")}).tensors()


@pytest.mark.parametrize("opts, key", [({"eval_crops": 5}, "dataset.eval_crops=5"), ({"crop": 80}, "dataset.crop")])
def test_bad_options_name_the_key(opts, key):
    with pytest.raises(ValueError, match=key):
        DATASETS.build({"name": "tinyimagenet", "root": "x", **opts})
