"""Training throughput, end to end (data, augmentation, step): our loop against a reference-style loop.

Ours is what a run does: the data set's TensorLoader with batched augmentation on the training device, then
engine.loop.train_epoch with the precision and memory format a run resolves on this device
(trainer.precision=auto, trainer.channels_last=true: engine/compute.py) and the registry's SGD; where that is
bf16, our loop in fp32 (what a CPU without native bf16 runs) is timed as a third side.
The reference is the loop the papers' code uses (written here as the baseline): a torchvision-style Dataset
that makes one PIL image per sample, per-image transforms (RandomCrop(32, padding=4), RandomHorizontalFlip,
ToTensor, Normalize), a DataLoader, eager fp32 NCHW, torch.optim.SGD, the loss and accuracy read every batch.
Both train the same model (the registry's, same config and seed) on the same images with the same batch,
optimiser settings and torch threads, interleaved rep after rep (engine/benchmarking.py: CPU time on CPU).
`--levers` also times our loop under each compute setting (fp32, channels_last, bf16, bf16 + channels_last,
and with --compile torch.compile) against fp32 NCHW.

    python scripts/benchmark_train.py --threads 1 [--data DIR] [--levers] [--out results/benchmarks]
    python scripts/benchmark_train.py --device cuda --models wrn28_10 --batch 128 --workers 8   # gpu_check.sh

DIR holds CIFAR-10 as an ImageFolder (`unpack_data.py cifar10 ROOT` writes ROOT/cifar10); without it the
images are random uint8, CIFAR-shaped.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from repeatnet_repro.config import compose  # noqa: E402
from repeatnet_repro.data import build_data  # noqa: E402
from repeatnet_repro.data.augment import BatchAugment  # noqa: E402
from repeatnet_repro.data.base import DataInfo  # noqa: E402
from repeatnet_repro.data.cifar import SPECS  # noqa: E402
from repeatnet_repro.data.tensor_loader import TensorLoader  # noqa: E402
from repeatnet_repro.engine.benchmarking import (Clock, add_arguments, fmt_ratio, interleaved, machine,  # noqa: E402
                                                 machine_line, parse, ratio, write_if_asked)
from repeatnet_repro.engine.compute import Compute, resolve_compute  # noqa: E402
from repeatnet_repro.engine.loop import Step, train_epoch  # noqa: E402
from repeatnet_repro.engine.optim import OPTIMIZERS  # noqa: E402
from repeatnet_repro.engine.tasks import make_task  # noqa: E402
from repeatnet_repro.models import build_model  # noqa: E402

CIFAR10 = DataInfo(num_classes=10, in_channels=3, image_size=32)
SPEC = SPECS["cifar10"]
LR, MOMENTUM, WEIGHT_DECAY = 0.02, 0.9, 5e-4

#: name -> (label, overrides)
MODELS = {
    "resnet16_rep4": ("RepeatNet ResNet-16 k_rep=4", ["model=resnet16", "sharing=repeat", "sharing.k_rep=4"]),
    "swrn28_4_2": ("SWRN-28-4-2", ["model=wrn", "model.depth=28", "model.widen=4", "sharing=soft",
                                   "sharing.templates=2"]),
    "sl_vggnet128": ("SL-VGGNet (n=128)", ["model=vggnet", "model.width=128", "model.uniform=true",
                                           "model.pad_input=true", "model.blend=true", "sharing=hard"]),
    "wrn28_10": ("WRN-28-10", ["model=wrn", "model.depth=28", "model.widen=10", "sharing=none"]),
    "wrn10_1": ("WRN-10-1 (dry runs)", ["model=wrn", "model.depth=10", "model.widen=1", "sharing=none"]),
}
TARGET = {"bf16": 2.0, "fp32": 1.3}  # ours / reference: on CPUs with native bf16, and in fp32


class PerImageCifar(Dataset):
    """uint8 images served as torchvision.datasets.CIFAR10 serves them: one PIL image per sample, transformed."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Callable):
        self.images = images.permute(0, 2, 3, 1).numpy()  # HWC, as CIFAR10.data
        self.labels, self.transform = labels.tolist(), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def reference_loader(images: torch.Tensor, labels: torch.Tensor, batch: int, workers: int, device: torch.device,
                     seed: int) -> DataLoader:
    from torchvision import transforms as T

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(SPEC.mean, SPEC.std)])
    return DataLoader(PerImageCifar(images, labels, transform), batch_size=batch, shuffle=True, num_workers=workers,
                      pin_memory=device.type == "cuda", drop_last=True, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(seed))


def reference_steps(model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, steps: int) -> Tuple[float, float]:
    """The reference loop: eager fp32, loss and accuracy read every batch (as the papers' code prints them);
    returns the mean loss and accuracy."""
    model.train()
    seen = correct = 0
    total = 0.0
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        out = model(x)
        loss = F.cross_entropy(out, y) + model.sharing.regularization()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
        correct += (out.argmax(1) == y).sum().item()
        seen += y.shape[0]
    return total / max(i, 1), 100.0 * correct / max(seen, 1)


def load_images(data: Optional[str], n: int) -> Tuple[torch.Tensor, torch.Tensor, str]:
    """CIFAR-10 training images from an ImageFolder copy (our decoded cache), or random CIFAR-shaped uint8."""
    if data:
        cfg = compose(["dataset=cifar10", "dataset.format=folder", f"dataset.root={data}"])
        t = build_data(cfg.dataset).tensors()
        return t["train_images"][:n], t["train_labels"][:n], f"real CIFAR-10 ({data}, first {n} training images)"
    gen = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen),
            torch.randint(0, 10, (n,), generator=gen), f"random uint8 CIFAR-shaped images ({n})")


class Ours:
    """Our loop over `steps` batches per call, at `compute`."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int,
                 device: torch.device, compute: Compute, steps: int, compile_backend: str = "inductor"):
        cfg = compose(["optimizer=sgd", f"optimizer.lr={LR}", f"optimizer.momentum={MOMENTUM}",
                       f"optimizer.weight_decay={WEIGHT_DECAY}"])
        self.model = model.to(device)
        if compute.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward_model = torch.compile(self.model, backend=compile_backend) if compute.compile else self.model
        self.optimizer = OPTIMIZERS.build(cfg.optimizer, self.model, device, skip=2)
        augment = BatchAugment(SPEC.mean, SPEC.std, train=True, pad_crop=4, flip=True)
        self.loader = TensorLoader(images, labels, batch, augment, shuffle=True, seed=0, drop_last=True, device=device)
        self.step = Step(device, compute.bf16, compute.channels_last, None)
        self.task, self.steps, self.epoch = make_task("classification", 10), steps, 0

    def __call__(self) -> None:
        self.epoch += 1
        self.loader.set_epoch(self.epoch)
        train_epoch(self.forward_model, self.loader, self.task, self.optimizer, self.step,
                    self.model.sharing.regularization, "benchmark", False, self.steps)


def timed(run: Callable[[], None], clock: Clock, images: int) -> Callable[[], float]:
    """A callable returning images per second of one `run()`."""
    def call() -> float:
        start = clock.now()
        run()
        return images / (clock.now() - start)
    return call


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = compose(MODELS[name][1])
    return build_model(cfg.model, cfg.sharing, CIFAR10)


def compare(name: str, args: argparse.Namespace, device: torch.device, images: torch.Tensor,
            labels: torch.Tensor) -> Dict:
    """Ours vs the reference on one model: images/s per rep and the ratio."""
    clock, n = Clock(device), args.steps * args.batch
    compute = resolve_compute(device, "auto", True, args.compile_ours)
    model = build(name)
    reference_model = copy.deepcopy(model).to(device)
    reference_opt = torch.optim.SGD(reference_model.parameters(), lr=LR, momentum=MOMENTUM,
                                    weight_decay=WEIGHT_DECAY)
    loader = reference_loader(images, labels, args.batch, args.workers, device, seed=0)
    fp32 = resolve_compute(device, "fp32", True, args.compile_ours)
    runs = {"ours": timed(Ours(model, images, labels, args.batch, device, compute, args.steps), clock, n),
            "reference": timed(lambda: reference_steps(reference_model, loader, reference_opt, device, args.steps),
                               clock, n)}
    if compute != fp32:  # what a CPU without native bf16 gets: our loop in fp32
        runs["ours_fp32"] = timed(Ours(copy.deepcopy(reference_model), images, labels, args.batch, device, fp32,
                                       args.steps), clock, n)
    rates = interleaved(runs, args.reps, args.warmup)
    out = {"label": MODELS[name][0], "overrides": MODELS[name][1], "compute": compute.record(),
           "params": sum(p.numel() for p in model.parameters()), "images_per_s": rates,
           "median_images_per_s": {k: statistics.median(v) for k, v in rates.items()},
           **ratio(rates["ours"], rates["reference"])}
    if "ours_fp32" in rates:
        out["fp32"] = {"compute": fp32.record(), **ratio(rates["ours_fp32"], rates["reference"])}
    return out


LEVERS = {"fp32": ("fp32", False, False), "fp32 + channels_last": ("fp32", True, False),
          "bf16": ("bf16", False, False), "bf16 + channels_last": ("bf16", True, False)}


def levers(name: str, args: argparse.Namespace, device: torch.device, images: torch.Tensor,
           labels: torch.Tensor) -> Dict:
    """Our loop under each compute setting, against fp32 NCHW."""
    clock, n = Clock(device), args.steps * args.batch
    settings = dict(LEVERS)
    if args.compile:
        settings["bf16 + channels_last + compile"] = ("bf16", True, True)
    model = build(name)
    runs = {}
    for label, (precision, channels_last, compiled) in settings.items():
        compute = Compute(precision, channels_last, compiled)
        runs[label] = timed(Ours(copy.deepcopy(model), images, labels, args.batch, device, compute, args.steps),
                            clock, n)
        if compiled:
            runs[label]()  # the compilation, not timed
    rates = interleaved(runs, args.reps, args.warmup)
    return {"label": MODELS[name][0], "images_per_s": rates,
            "median_images_per_s": {k: statistics.median(v) for k, v in rates.items()},
            "vs_fp32": {k: ratio(v, rates["fp32"]) for k, v in rates.items() if k != "fp32"}}


def markdown(record: Dict) -> str:
    lines = [f"# Training throughput: ours / reference-style loop ({record['device']})", "",
             f"{machine_line(record['machine'])}. Data: {record['data']}. Batch {record['batch']}, "
             f"{record['steps_per_rep']} steps per rep, median of {record['reps']} interleaved reps after "
             f"{record['warmup']} warm-up, {record['clock']}; reference DataLoader workers: {record['workers']}. "
             f"Images/s end to end (data + augmentation + step).", "",
             "| model | params | ours: compute | ours img/s | reference img/s | ours / reference (min-max) "
             "| ours in fp32 / reference (min-max) |",
             "|---|---|---|---|---|---|---|"]
    for r in record["models"].values():
        c = r["compute"]
        lines.append(f"| {r['label']} | {r['params']:,} | {c['precision']}, {c['memory_format']}"
                     f"{', compiled' if c['compile'] else ''} | {r['median_images_per_s']['ours']:.1f} | "
                     f"{r['median_images_per_s']['reference']:.1f} | {fmt_ratio(r)} | "
                     f"{fmt_ratio(r['fp32']) if 'fp32' in r else '(ours is fp32)'} |")
    for lever in record.get("levers", {}).values():
        lines += ["", f"Levers on our loop, {lever['label']} (ratio to fp32 NCHW, "
                      f"{lever['median_images_per_s']['fp32']:.1f} img/s):", "",
                  "| setting | img/s | / fp32 (min-max) |", "|---|---|---|"]
        for k, r in lever["vs_fp32"].items():
            lines.append(f"| {k} | {lever['median_images_per_s'][k]:.1f} | {fmt_ratio(r)} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet16_rep4", "swrn28_4_2", "sl_vggnet128"],
                        choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12, help="training steps per rep and side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--data", default=None, help="CIFAR-10 ImageFolder root (default: random images)")
    parser.add_argument("--images", type=int, default=10_000, help="images the loaders draw from")
    parser.add_argument("--workers", type=int, default=0, help="reference DataLoader workers")
    parser.add_argument("--levers", action="store_true", help="also time our loop under each compute setting")
    parser.add_argument("--compile", action="store_true", help="add torch.compile to the levers")
    parser.add_argument("--compile-ours", action="store_true", help="compile our side of the comparison")
    add_arguments(parser, "train", reps=5)
    args, device = parse(parser, argv)
    images, labels, data = load_images(args.data, args.images)
    record = {"device": device.type, "machine": machine(device), "data": data, "batch": args.batch,
              "steps_per_rep": args.steps, "reps": args.reps, "warmup": args.warmup, "workers": args.workers,
              "clock": Clock(device).name, "target": TARGET, "optimizer": {"lr": LR, "momentum": MOMENTUM,
                                                                           "weight_decay": WEIGHT_DECAY},
              "models": {}}
    print(f"{machine_line(record['machine'])}; {data}; batch {args.batch}", flush=True)
    for name in args.models:
        r = record["models"][name] = compare(name, args, device, images, labels)
        print(f"  {r['label']:28s} ours {r['median_images_per_s']['ours']:8.1f} img/s  reference "
              f"{r['median_images_per_s']['reference']:8.1f} img/s  ratio {fmt_ratio(r)}"
              + (f"  (ours in fp32: {fmt_ratio(r['fp32'])})" if "fp32" in r else ""), flush=True)
    if args.levers:
        lever = record["levers"] = {args.models[0]: levers(args.models[0], args, device, images, labels)}
        for k, r in lever[args.models[0]]["vs_fp32"].items():
            print(f"  lever {k:32s} {fmt_ratio(r)} x fp32", flush=True)
    write_if_asked(args, "train", record, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
