"""Batched augmentations added for the large-image and rotation data sets: each sample draws its own
random crop box or angle, and the deterministic cases equal their exact definitions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from repeatnet_repro.data.augment import BatchAugment, Lighting, random_resized_crop, random_rotate, rotate


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


@pytest.mark.parametrize("degrees", [37.0, -128.0])
def test_upsampled_rotation_is_the_authors_pil_resize_87_rotate_resize_29(degrees):
    """RepeatNet main.py on a 29 px float image: Resize(87), RandomRotation (bilinear), Resize(29), all PIL."""
    image = np.zeros((29, 29), np.float32)
    image[5:20, 8:14], image[5:8, 8:24] = 1.0, 0.7  # an asymmetric 'F'
    pil = Image.fromarray(image).resize((87, 87), Image.BILINEAR).rotate(degrees, Image.BILINEAR)
    reference = torch.from_numpy(np.asarray(pil.resize((29, 29), Image.BILINEAR)).copy())
    ours = rotate(torch.from_numpy(image)[None, None], torch.tensor([math.radians(degrees)]), upsample=3)[0, 0]
    assert torch.allclose(ours, reference, atol=1e-5)
    at_29 = rotate(torch.from_numpy(image)[None, None], torch.tensor([math.radians(degrees)]))[0, 0]
    assert (at_29 - reference).abs().max() > 0.1, "rotating at 29 px is a different pipeline"


def test_vertical_and_horizontal_flips_are_independent_coin_tosses():
    x = torch.arange(29 * 29, dtype=torch.float32).view(1, 1, 29, 29).expand(400, 1, 29, 29).contiguous()
    out = BatchAugment([0.0], [1.0], train=True, vflip=True, flip=True)(x, gen()) * 255
    variants = [x[0], x[0].flip(1), x[0].flip(2), x[0].flip(1).flip(2)]  # none, vertical, horizontal, both
    which = [next(i for i, v in enumerate(variants) if torch.allclose(o, v)) for o in out]
    counts = torch.bincount(torch.tensor(which), minlength=4)
    assert (counts > 60).all() and (counts < 140).all(), f"each of the 4 mirror images about 1/4: {counts.tolist()}"


def test_pca_lighting_adds_eigvec_times_alpha_eigval_to_every_pixel():
    """fb.resnet.torch Lighting: rgb = eigvec * (alpha .* eigval), alpha ~ N(0, alphastd), on [0, 1] pixels."""
    eigval, eigvec = torch.tensor([0.2, 0.02, 0.004]), torch.linalg.qr(torch.randn(3, 3))[0]
    x = torch.full((64, 3, 4, 5), 100.0)
    out = Lighting(0.1, eigval, eigvec)(x, gen(7))
    alpha = torch.randn(64, 3, generator=gen(7)) * 0.1
    shift = out - x
    assert torch.allclose(shift, shift[:, :, :1, :1].expand_as(shift)), "one colour shift per image"
    assert torch.allclose(shift[:, :, 0, 0], 255 * (eigvec @ (alpha * eigval).T).T, atol=1e-4)
    components = (shift[:, :, 0, 0] / 255) @ eigvec  # = alpha * eigval
    assert components.std(0)[0] == pytest.approx(0.1 * 0.2, rel=0.3)


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
