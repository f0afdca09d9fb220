"""Batched augmentations added for the large-image and rotation data sets: each sample draws its own
random crop box or angle, and the deterministic cases equal their exact definitions."""
from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from repeatnet_repro.data.augment import BatchAugment, random_resized_crop, random_rotate, rotate


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_resized_crop_of_the_whole_image_is_a_plain_resize():
    x = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    same = random_resized_crop(x, 16, gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(same, x.float(), atol=1e-3), "box = image, same size: identity"
    half = random_resized_crop(x, 8, gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(half, x.float().view(3, 3, 8, 2, 8, 2).mean((3, 5)), atol=1e-3), \
        "bilinear halving samples between pixel pairs: a 2x2 mean"


def test_resized_crop_boxes_stay_inside_and_differ_per_sample():
    x = torch.zeros(64, 1, 32, 32, dtype=torch.uint8)
    x[:, :, 8:24, 8:24] = 255  # a bright centre square
    out = random_resized_crop(x, 16, gen())
    assert out.shape == (64, 1, 16, 16) and out.min() >= 0 and out.max() <= 255 + 1e-3
    assert len({round(v, 2) for v in out.mean((1, 2, 3)).tolist()}) > 32, "each sample has its own box"
    box = random_resized_crop(x, 16, gen(), scale=(0.25, 0.25), ratio=(1.0, 1.0))
    assert (box.mean((1, 2, 3)) > 0).all(), "a box of a quarter of the area always overlaps the square"


def test_rotation_by_quarter_turns_is_exact_on_odd_sizes():
    x = torch.randint(0, 256, (2, 1, 29, 29), dtype=torch.uint8)
    quarter = rotate(x, torch.full((2,), math.pi / 2)).round().to(torch.uint8)
    assert torch.equal(quarter, torch.rot90(x, k=1, dims=(2, 3))) or \
        torch.equal(quarter, torch.rot90(x, k=-1, dims=(2, 3))), "90 degrees about the centre pixel"
    half = rotate(x, torch.full((2,), math.pi)).round().to(torch.uint8)
    assert torch.equal(half, x.flip(2).flip(3))


def test_random_rotation_draws_one_angle_per_sample():
    x = torch.zeros(16, 1, 29, 29, dtype=torch.uint8)
    x[:, :, 14, 14:] = 255  # a ray from the centre to the right edge
    out = random_rotate(x, gen())
    coords = torch.arange(29.0) - 14
    cy = (out[:, 0] * coords.view(29, 1)).sum((1, 2))  # intensity centroid, relative to the centre
    cx = (out[:, 0] * coords.view(1, 29)).sum((1, 2))
    angles = torch.atan2(cy, cx)
    assert len({round(a, 1) for a in angles.tolist()}) > 8, "the ray points in many directions"
    assert torch.allclose(out.sum((1, 2, 3)), x.float().sum((1, 2, 3)), rtol=0.25), "mass is kept"


def test_ten_crop_evaluation_shape_order_and_normalisation():
    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    aug = BatchAugment([0.5] * 3, [0.25] * 3, train=False, eval_crop=56, ten_crop=True)
    out = aug(x, gen())
    assert out.shape == (4, 10, 3, 56, 56)
    norm = (x.float() / 255 - 0.5) / 0.25
    assert torch.allclose(out[:, 0], norm[..., :56, :56]), "crop 0: top-left corner"
    assert torch.allclose(out[:, 4], TF.center_crop(norm, [56, 56])), "crop 4: centre"
    assert torch.allclose(out[:, 5], norm.flip(-1)[..., :56, :56]), "crop 5: top-left of the mirror image"
    centre = BatchAugment([0.5] * 3, [0.25] * 3, train=False, eval_crop=56)(x, gen())
    assert torch.allclose(centre, out[:, 4])


def test_train_only_options_leave_evaluation_untouched():
    x = torch.randint(0, 256, (4, 1, 29, 29), dtype=torch.uint8)
    train = BatchAugment([0.0], [1.0], train=True, rotate=True)
    test = BatchAugment([0.0], [1.0], train=False, rotate=True)
    assert torch.allclose(test(x, gen()), x.float() / 255)
    assert not torch.allclose(train(x, gen()), x.float() / 255)
    with pytest.raises(ValueError, match="eval_crop"):
        BatchAugment([0.0], [1.0], train=False, ten_crop=True)
