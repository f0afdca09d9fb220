"""The GPU figures: WRN-28-10 CIFAR-10 epoch time, achieved TFLOP/s and % of bf16 peak, compile vs eager, and a
2-epoch real CIFAR-10 accuracy sanity check; `scripts/gpu_check.sh` runs it beside the two benchmarks.

An epoch is our trainer's path (TensorLoader with batched augmentation on the GPU, engine.loop.train_epoch at the
device's auto compute: bf16 autocast + channels_last) over 50,000 CIFAR-shaped images at batch 128, timed after a
warm-up (cudnn autotuning; the compilation for the compiled epoch). Achieved TFLOP/s = 3 x forward FLOPs per
image (analysis/counting.py: torch.utils.flop_counter on the convolutions and linear layers) x images / seconds;
% of peak against the GPU's dense bf16 peak (PEAK_TFLOPS, or --peak-tflops). The record
(<out>/gpu_<gpu>.json, .md) is what `make experiments` calibrates its GPU-hour estimate from once it is committed
under results/benchmarks/.

    python scripts/gpu_check.py --out $OUT [--npz cifar10-jpeg.npz]
    python scripts/gpu_check.py --cpu --out /tmp/dry    # dry run: tiny model and sizes, seconds, on CPU
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmark_train import MODELS, Ours, build, load_images  # noqa: E402
from repeatnet_repro.analysis.counting import macs_flops  # noqa: E402
from repeatnet_repro.engine.benchmarking import Clock, machine, machine_line, write_record  # noqa: E402
from repeatnet_repro.engine.compute import Compute, resolve_compute  # noqa: E402

#: dense bf16 tensor-core peak (TFLOP/s, no sparsity) by a substring of torch.cuda.get_device_name
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
               "A10": 125.0, "RTX 4090": 165.0, "V100": 125.0}
GOAL_EPOCH_S = 4.5  # WRN-28-10 on an H100/H200 (>= 45 % of bf16 peak; the floor is about 2 s)


def peak_tflops(name: str) -> Optional[float]:
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def epoch(model_name: str, images: torch.Tensor, labels: torch.Tensor, batch: int, device: torch.device,
          compute: Compute, warmup: int, backend: str) -> Dict[str, float]:
    """Seconds of one epoch over `images` after `warmup` steps (their time, which includes any compilation,
    is reported apart)."""
    clock = Clock(device)
    ours = Ours(build(model_name), images, labels, batch, device, compute, warmup, backend)
    start = clock.now()
    ours()
    warm = clock.now() - start
    ours.steps = len(images) // batch
    start = clock.now()
    ours()
    seconds = clock.now() - start
    return {"seconds": seconds, "warmup_seconds": warm, "images": ours.steps * batch,
            "images_per_s": ours.steps * batch / seconds}


def decode_npz(path: Path, limit: Optional[int]) -> Dict[str, Tuple[np.ndarray, List[bytes]]]:
    """The offline CIFAR-10 copy (no pickles: np.load refuses them): per split, labels and JPEG bytes."""
    d = np.load(path, allow_pickle=False)
    out = {}
    for split in ("train", "test"):
        buf, off, y = d[f"{split}_jpeg"], d[f"{split}_offsets"], d[f"{split}_labels"]
        keep = range(len(y)) if limit is None else range(0, len(y), max(1, len(y) // (limit if split == "train"
                                                                                   else max(limit // 5, 10))))
        out[split] = (y[list(keep)], [buf[off[i]:off[i + 1]].tobytes() for i in keep])  # the copy is class-sorted
    out["classes"] = [str(c) for c in d["classes"]]
    return out


def write_folder(data: Dict, root: Path) -> Path:
    """ROOT/{train,test}/<class>/NNNNN.jpg, the layout dataset=cifar10 dataset.format=folder reads."""
    for split in ("train", "test"):
        labels, files = data[split]
        for c in data["classes"]:
            (root / split / c).mkdir(parents=True, exist_ok=True)
        for i, (label, blob) in enumerate(zip(labels, files)):
            (root / split / data["classes"][int(label)] / f"{i:05d}.jpg").write_bytes(blob)
    return root


def accuracy_run(root: Path, out: Path, model: List[str], epochs: int, cpu: bool) -> Dict:
    """`epochs` epochs of the trainer on the real copy (constant lr 0.1, SGD momentum 0.9, wd 5e-4, batch 128)."""
    run_dir = out / "accuracy_run"
    overrides = [*model, "dataset=cifar10", "dataset.format=folder", f"dataset.root={root}",
                 f"trainer.epochs={epochs}", "trainer.batch_size=128", "schedule=constant", "optimizer=sgd",
                 "optimizer.lr=0.1", "logger=none", "trainer.progress=false", f"hydra.run.dir={run_dir}",
                 f"trainer.device={'cpu' if cpu else 'cuda'}"]
    if cpu:
        overrides += ["budget.max_train_batches=2", "budget.max_eval_batches=2"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.train", *overrides], cwd=REPO,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"overrides": overrides, "seconds": time.perf_counter() - start, "test_acc": summary["final"]["test_acc"],
            "train_acc": summary["final"]["train_acc"], "compute": summary["compute"]}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--cpu", action="store_true", help="dry run on CPU: WRN-10-1, 512 images, seconds")
    parser.add_argument("--npz", default=None, help="the offline CIFAR-10 copy (cifar10-jpeg.npz), if carried")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    out = Path(args.out)
    device = torch.device("cpu" if args.cpu else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device visible; run with --cpu for the dry run", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    if args.cpu:  # tiny and quick; inductor is tested by the suite (tests/test_gpu_path_on_cpu.py), its cold
        torch.set_num_threads(1)  # C++ build here takes a minute: the dry run compiles with aot_eager
    name, n, batch, warmup = ("wrn10_1", 128, 16, 1) if args.cpu else ("wrn28_10", 50_000, args.batch, 20)
    backend = "aot_eager" if args.cpu else "inductor"
    flops = macs_flops(build(name).eval(), (3, 32, 32))["flops"]
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or (peak_tflops(gpu) if device.type == "cuda" else None)
    auto = resolve_compute(device, "auto", True, False)
    images, labels, _ = load_images(None, n)
    if device.type == "cuda":
        images, labels = images.to(device), labels.to(device)
    record = {"device": device.type, "gpu": gpu, "machine": machine(device), "model": name, "batch": batch,
              "compile_backend": backend, "clock": Clock(device).name, "forward_flops_per_image": flops,
              "train_flops_per_image": 3 * flops, "peak_bf16_tflops": peak,
              "epochs": {}}

    def add(label: str, result: Dict[str, float]) -> None:
        tflops = 3 * flops * result["images_per_s"] / 1e12
        record["epochs"][label] = {**result, "tflops": tflops, "pct_of_peak": 100 * tflops / peak if peak else None}
        print(f"  {label:34s} {result['seconds']:8.2f} s/epoch  {result['images_per_s']:9.0f} img/s  "
              f"{tflops:7.2f} TFLOP/s  (warm-up {result['warmup_seconds']:.1f} s)", flush=True)

    print(f"{machine_line(record['machine'])}; {name}, batch {batch}, {n} images per epoch", flush=True)
    add(f"synthetic, {auto.precision} {'channels_last' if auto.channels_last else 'contiguous'}, eager",
        epoch(name, images, labels, batch, device, auto, warmup, backend))
    fp32 = resolve_compute(device, "fp32", True, False)
    add("synthetic, fp32, eager", epoch(name, images, labels, batch, device, fp32, warmup, backend))
    add(f"synthetic, {auto.precision}, compiled ({backend})",
        epoch(name, images, labels, batch, device, Compute(auto.precision, auto.channels_last, True), warmup, backend))
    eager, compiled = list(record["epochs"].values())[0], list(record["epochs"].values())[2]
    record["compile_vs_eager"] = eager["seconds"] / compiled["seconds"]
    record["calibration"] = {"tflops": eager["tflops"], "from": f"{name} synthetic epoch, {auto.precision} eager "
                                                                "(what a run uses by default)"}
    if args.npz and Path(args.npz).is_file():
        root = write_folder(decode_npz(Path(args.npz), 200 if args.cpu else None), out / "data" / "cifar10")
        real, real_labels, _ = load_images(str(root), n)
        if device.type == "cuda":
            real, real_labels = real.to(device), real_labels.to(device)
        add("real CIFAR-10, eager", epoch(name, real, real_labels, batch, device, auto, warmup, backend))
        record["accuracy_2_epochs"] = accuracy_run(root, out, MODELS[name][1], 2, args.cpu)
        print(f"  2 epochs on real CIFAR-10: {record['accuracy_2_epochs']}", flush=True)
    else:
        record["accuracy_2_epochs"] = {"skipped": "no --npz (the real CIFAR-10 copy was not carried)"}
    if device.type == "cuda":
        record["goal_epoch_s"] = GOAL_EPOCH_S
    stem = f"gpu_{re.sub(r'[^a-z0-9]+', '_', gpu.lower()).strip('_')}" if device.type == "cuda" else "dryrun_cpu"
    for path in write_record(out, stem, record, markdown(record)):
        print(f"wrote {path}")
    return 0


def markdown(record: Dict) -> str:
    peak = record["peak_bf16_tflops"]
    lines = [f"# GPU check: {record['model']} on {record['gpu']}", "",
             f"{machine_line(record['machine'])}. Batch {record['batch']}; {record['train_flops_per_image'] / 1e9:.1f} "
             f"GFLOP per training image (3 x forward, counted); bf16 peak {peak or 'unknown'} TFLOP/s.", "",
             "| epoch | s/epoch | img/s | TFLOP/s | % of bf16 peak | warm-up s |", "|---|---|---|---|---|---|"]
    for label, e in record["epochs"].items():
        pct = f"{e['pct_of_peak']:.1f}" if e["pct_of_peak"] is not None else "-"
        lines.append(f"| {label} | {e['seconds']:.2f} | {e['images_per_s']:.0f} | {e['tflops']:.2f} | {pct} | "
                     f"{e['warmup_seconds']:.1f} |")
    acc = record["accuracy_2_epochs"]
    lines += ["", f"Compiled / eager epoch speed: {record['compile_vs_eager']:.2f}x.",
              f"2 epochs on real CIFAR-10: {acc.get('test_acc', acc)}" + (" % test accuracy" if "test_acc" in acc
                                                                          else "")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
