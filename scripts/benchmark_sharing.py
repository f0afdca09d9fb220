"""What weight sharing costs per training step: shared vs unshared model of the same topology, on CPU.

Pairs (same layers, only the weights' parametrisation differs):
  soft:   WRN-16-4 (sharing=none)            vs SWRN-16-4-k (sharing=soft, k templates per stage)
  repeat: ResNet-16 k=4 (sharing=none)       vs RepeatNet ResNet-16 (sharing=repeat, k_rep=4)
One step = forward + loss (+ the sharing regulariser) + backward. The variants run interleaved, so
load changes on a shared machine hit all of them alike; the median over the repetitions is reported
with the ratio shared / unshared (goal <= 1.10). On a machine whose cores other jobs also use, give
--threads 1: with more threads than free cores every small op waits for its thread team, which
inflates exactly the many small weight-generation ops and says nothing about their real cost.

    python scripts/benchmark_sharing.py [--batch 32] [--reps 7] [--templates 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List

import torch
import torch.nn.functional as F

from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model

CIFAR10 = DataInfo(num_classes=10, in_channels=3, image_size=32)


def variants(templates: int) -> Dict[str, List[str]]:
    wrn = ["model=wrn", "model.depth=16", "model.widen=4"]
    return {
        "wrn16-4/none": wrn + ["sharing=none"],
        f"wrn16-4/soft-k{templates}": wrn + ["sharing=soft", f"sharing.templates={templates}"],
        "resnet16-k4/none": ["model=resnet16", "model.k=4", "sharing=none"],
        "resnet16-k4/repeat": ["model=resnet16", "sharing=repeat", "sharing.k_rep=4"],
    }


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y) + model.sharing.regularization()
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions (>= 5)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--templates", type=int, default=2, help="k of SWRN-16-4-k")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    if args.reps < 5:
        parser.error("--reps must be >= 5")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {}
    for name, overrides in variants(args.templates).items():
        cfg = compose(overrides)
        models[name] = build_model(cfg.model, cfg.sharing, CIFAR10).train()
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    times: Dict[str, List[float]] = {name: [] for name in models}
    for rep in range(args.warmup + args.reps):
        for name, model in models.items():
            t = step_seconds(model, x, y)
            if rep >= args.warmup:
                times[name].append(t)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    ratios = {
        "soft / none (WRN-16-4)": median[f"wrn16-4/soft-k{args.templates}"] / median["wrn16-4/none"],
        "repeat / none (ResNet-16 k=4)": median["resnet16-k4/repeat"] / median["resnet16-k4/none"],
    }
    print(f"CPU, {torch.get_num_threads()} threads, batch {args.batch}, median of {args.reps} interleaved steps")
    for name, m in median.items():
        params = sum(p.numel() for p in models[name].parameters())
        print(f"  {name:22s} {1000 * m:8.1f} ms/step   (min {1000 * min(times[name]):7.1f})   {params:>10,d} params")
    for name, r in ratios.items():
        print(f"  {name:30s} ratio {r:.3f}  ({'ok' if r <= 1.10 else 'above'} the 1.10 goal)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "reps": args.reps, "threads": torch.get_num_threads(),
                       "median_s": median, "times_s": times, "ratios": ratios}, f, indent=2)


if __name__ == "__main__":
    main()
