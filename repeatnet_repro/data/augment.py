"""Batched augmentation on uint8 image tensors: every sample gets its own random draw.

Order (as the papers use it): random crop from a zero-padded image (or a random-size crop resized
to a fixed side, or a random rotation), vertical then horizontal flip, conversion to float and
normalisation, then cutout (one square hole, applied after normalisation). Evaluation may cut a centre crop or ten crops
(four corners and centre, and their mirror images); ten crops come out as [B, 10, C, h, w] so the
evaluation loop averages the softmax outputs of each image's crops.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


class BatchAugment:
    """uint8 [B, C, H, W] -> normalised float [B, C, H, W], augmenting only when `train`.

    Train-time options: `pad_crop` (pad and crop), `resized_crop` (random-size crop resized to this
    side), `rotate` (uniform random angle, computed at `upsample` times the resolution), `vflip`,
    `flip` (horizontal), `color_jitter` and `lighting` (fb.resnet.torch's colour augmentation), `cutout`.
    Evaluation options: `eval_crop` (centre crop of this side) and
    `ten_crop` (ten crops of side `eval_crop`, output [B, 10, C, s, s]).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], train: bool,
                 pad_crop: int = 0, flip: bool = False, cutout: int = 0, resized_crop: int = 0,
                 rotate: bool = False, upsample: int = 1, vflip: bool = False,
                 eval_crop: int = 0, ten_crop: bool = False, color_jitter: float = 0.0,
                 lighting: Optional["Lighting"] = None):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.train, self.pad_crop, self.flip, self.vflip, self.cutout = train, pad_crop, flip, vflip, cutout
        self.resized_crop, self.rotate, self.upsample = resized_crop, rotate, upsample
        self.eval_crop, self.ten_crop = eval_crop, ten_crop
        self.color_jitter, self.lighting = color_jitter, lighting
        if ten_crop and not eval_crop:
            raise ValueError("ten_crop needs eval_crop, the side of each crop")

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = images
        if self.train and self.pad_crop:
            x = random_crop(x, self.pad_crop, gen)
        if self.train and self.resized_crop:
            x = random_resized_crop(x, self.resized_crop, gen)
        if self.train and self.rotate:
            x = random_rotate(x, gen, self.upsample)
        if not self.train and self.eval_crop:
            from torchvision.transforms.v2 import functional as TF

            x = (torch.stack(TF.ten_crop(x, [self.eval_crop]), dim=1) if self.ten_crop
                 else TF.center_crop(x, [self.eval_crop]))
        if self.train and self.vflip:
            x = random_flip(x, gen, dim=2)
        if self.train and self.flip:
            x = random_flip(x, gen)
        if self.train and self.color_jitter:
            x = color_jitter(x.float(), self.color_jitter, gen)
        if self.train and self.lighting is not None:
            x = self.lighting(x.float(), gen)
        x = (x.float() / 255.0 - self.mean.to(x.device)) / self.std.to(x.device)
        if self.train and self.cutout:
            x = cutout(x, self.cutout, gen)
        return x


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `pad` and cut a same-size window at a per-sample random offset."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=x.device)
    rows = (dy.view(b, 1) + torch.arange(h, device=x.device).view(1, h))  # [B, H]
    cols = (dx.view(b, 1) + torch.arange(w, device=x.device).view(1, w))  # [B, W]
    bidx = torch.arange(b, device=x.device).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[bidx, rows.view(b, h, 1), cols.view(b, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, gen: torch.Generator, dim: int = 3) -> torch.Tensor:
    """Mirror each sample with probability 1/2 along `dim`: 3 horizontally, 2 vertically."""
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(dim), x)


def color_jitter(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation, each by a factor ~ U(1 - strength, 1 + strength) drawn per sample, in
    a per-sample random order (fb.resnet.torch's ColorJitter), through torchvision's functional ops; on RGB
    float [B, 3, H, W] in 0..255."""
    from torchvision.transforms.v2 import functional as TF

    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    factors = 1 + strength * (2 * torch.rand(x.shape[0], 3, generator=gen, device=x.device) - 1)
    out = []
    for image, factor in zip(x / 255.0, factors.tolist()):
        for op in torch.randperm(3, generator=gen, device=x.device).tolist():
            image = ops[op](image, factor[op])
        out.append(image)
    return torch.stack(out) * 255.0


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per sample; its centre is uniform over the image, clipped."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), generator=gen, device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    half = size // 2
    hole = (ys >= cy - half) & (ys < cy - half + size) & (xs >= cx - half) & (xs < cx - half + size)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def random_resized_crop(x: torch.Tensor, size: int, gen: torch.Generator,
                        scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Inception-style crop: area fraction ~ U(scale), log aspect ~ U(log ratio), resized to size x size.

    One draw per sample, no retries: a box larger than the image is clipped to it (torchvision
    retries ten times, then falls back to a centre crop). Bilinear resampling of every box at once
    through one affine sampling grid; returns float values in [0, 255].
    """
    b, _, h, w = x.shape
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(scale[0], scale[1], generator=gen)
    log_r = torch.empty(b, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    aspect = log_r.exp()
    bw = (area * aspect).sqrt().clamp(max=1.0)  # box sides as fractions of the image sides
    bh = (area / aspect).sqrt().clamp(max=1.0)
    cx = bw / 2 + (1 - bw) * torch.rand(b, generator=gen, device=dev)  # box centre, fraction of width
    cy = bh / 2 + (1 - bh) * torch.rand(b, generator=gen, device=dev)
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = bw, 2 * cx - 1
    theta[:, 1, 1], theta[:, 1, 2] = bh, 2 * cy - 1
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_rotate(x: torch.Tensor, gen: torch.Generator, upsample: int = 1) -> torch.Tensor:
    """Rotate each sample about the image centre by an angle ~ U[0, 2 pi); outside pixels are zero."""
    angle = 2 * math.pi * torch.rand(x.shape[0], generator=gen, device=x.device)
    return rotate(x, angle, upsample)


class Lighting:
    """AlexNet's PCA lighting noise as fb.resnet.torch applies it: every pixel of a sample gets
    eigvec @ (alpha * eigval) added, alpha ~ N(0, alphastd) per sample and component. On RGB float
    [B, 3, H, W] in 0..255 (eigval is for pixels in [0, 1]); unclipped, as theirs."""

    def __init__(self, alphastd: float, eigval: torch.Tensor, eigvec: torch.Tensor):
        self.alphastd, self.eigval, self.eigvec = alphastd, eigval, eigvec

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        alpha = torch.randn(x.shape[0], 3, generator=gen, device=x.device) * self.alphastd
        rgb = (alpha * self.eigval.to(x.device)) @ self.eigvec.to(x.device).T  # row b: eigvec @ (alpha_b * eigval)
        return x + 255.0 * rgb.view(-1, 3, 1, 1)


def rotate(x: torch.Tensor, angle: torch.Tensor, upsample: int = 1) -> torch.Tensor:
    """Bilinear rotation of [B, C, H, W] by per-sample angles (radians, counter-clockwise); float out.

    `upsample` > 1 rotates a bilinear `upsample`-times enlargement and shrinks the result back with an
    antialiased bilinear resize: PIL's Resize(87) -> rotate -> Resize(29) of RepeatNet's rot-MNIST
    pipeline (torch's antialiased bilinear resampling is PIL's filter).
    """
    if upsample > 1:
        big = F.interpolate(x.float(), scale_factor=upsample, mode="bilinear", align_corners=False)
        return F.interpolate(rotate(big, angle), size=list(x.shape[-2:]), mode="bilinear", align_corners=False,
                             antialias=True)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
