"""Augmentation throughput: our batched tensor path against torchvision per-image transforms.

Both sides do the CIFAR training recipe (pad-4 random crop, horizontal flip, normalise) on the same
uint8 images and deliver float batches; nothing else (no model) runs. The reference is the usual
torchvision pipeline: a Dataset that makes a PIL image per sample, transforms it, and a DataLoader
with worker processes collating batches. With --cutout, the reference erases one square of the same
size with torchvision's RandomErasing (kept inside the image, where ours may be clipped at the edge).

    python scripts/benchmark_data.py                            # random CIFAR-10-shaped data, CPU
    python scripts/benchmark_data.py --cache data/cifar10/cache/folder.pt --device cuda
"""
from __future__ import annotations

import argparse
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from repeatnet_repro.data.augment import BatchAugment
from repeatnet_repro.data.cifar import SPECS
from repeatnet_repro.data.tensor_loader import TensorLoader


class PerImage(Dataset):
    """uint8 [N, C, H, W] images served one PIL image at a time, as torchvision's CIFAR10 does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).numpy()
        self.labels, self.transform = labels.numpy(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def rate(batches, n_batches: int, sync) -> float:
    """Images per second over n_batches after one warm-up batch."""
    it = iter(batches)
    next(it)
    seen, start = 0, time.perf_counter()
    for _ in range(n_batches):
        x, _ = next(it)
        seen += x.shape[0]
    sync()
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", help="a decoded CIFAR cache (.pt); random uint8 images when omitted")
    parser.add_argument("--images", type=int, default=20_000, help="images per measurement")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cutout", type=int, default=0)
    args = parser.parse_args()

    if args.cache:
        t = torch.load(args.cache, weights_only=True)
        images, labels = t["train_images"], t["train_labels"]
    else:
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 10, (50_000,), generator=gen)
    n = min(args.images, len(labels))
    images, labels = images[:n + args.batch_size], labels[:n + args.batch_size]
    n_batches = n // args.batch_size
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    spec = SPECS["cifar10"]

    aug = BatchAugment(spec.mean, spec.std, train=True, pad_crop=4, flip=True, cutout=args.cutout)
    batched = rate(TensorLoader(images, labels, args.batch_size, aug, shuffle=True, seed=0, device=device),
                   n_batches, sync)

    steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    if args.cutout:
        steps.append(T.RandomErasing(p=1.0, scale=(args.cutout ** 2 / 1024,) * 2, ratio=(1.0, 1.0)))
    loader = DataLoader(PerImage(images, labels, T.Compose(steps)), batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers, pin_memory=device.type == "cuda",
                        persistent_workers=args.workers > 0)
    reference = rate(((x.to(device, non_blocking=True), y) for x, y in loader), n_batches, sync)

    print(f"data: {'cache ' + args.cache if args.cache else 'random uint8'} [{n}, 3, 32, 32], batch {args.batch_size}, "
          f"device {device}, torch threads {torch.get_num_threads()}")
    print(f"batched tensor path (TensorLoader + BatchAugment): {batched:12,.0f} images/s")
    print(f"torchvision per-image, DataLoader {args.workers} workers: {reference:12,.0f} images/s")
    print(f"speed-up: {batched / reference:.1f}x")


if __name__ == "__main__":
    main()
