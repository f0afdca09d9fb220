"""List every experiment preset with what it costs: runs, epochs per budget and a rough GPU-hour estimate.

    python scripts/list_experiments.py [--tflops 100] [--only softshare/table1] [--no-cost]

Runs = rows x data sets x seeds (x any other swept key) from each preset's hydra.sweeper.params. Epochs
are the preset's trainer.epochs scaled by each budget (conf/budget: paper, short, smoke) as the trainer
plans them. GPU hours = sum over runs of FLOPs(one image, forward) x (3 x train images + eval images x
crops) x epochs / throughput, with a budget's per-epoch batch caps applied to the image counts: a
training image costs about three forward passes (forward + backward), an evaluated crop one. Assumption: a sustained --tflops (default 100 TFLOP/s: bf16 autocast on one H100,
about a tenth of its dense peak; small CIFAR models at batch 64-128 get less). FLOPs come from the
count CLI's model build (torch's flop counter, one image at the data set's size).
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Dict, List

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
sys.path.insert(0, str(REPO))

from repeatnet_repro.config import compose  # noqa: E402
from repeatnet_repro.count import count_composed  # noqa: E402
from repeatnet_repro.engine.trainer import planned_epochs  # noqa: E402

BUDGETS = ("paper", "short", "smoke")

#: images per epoch: (train, eval) of each data set's standard split; eval is multiplied by dataset.eval_crops
IMAGES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "tinyimagenet": (100_000, 10_000),
          "imagenet": (1_281_167, 50_000), "rotmnist": (12_000, 50_000), "digits": (1_437, 360)}


def presets() -> List[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in (CONF / "experiment").glob("*/*.yaml"))


def sweep_jobs(preset: str) -> List[List[str]]:
    """Every job's overrides (the basic sweeper's cartesian product; range(a, b) as Python's range)."""
    params = OmegaConf.load(CONF / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    axes = []
    for key, value in params.items():
        text = str(value).strip()
        if text.startswith("range(") and text.endswith(")"):
            values = [str(v) for v in range(*(int(a) for a in text[6:-1].split(",")))]
        else:
            values = [v.strip() for v in text.split(",")]
        axes.append([f"{key}={v}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


def images_per_epoch(cfg) -> Dict[str, int]:
    name = cfg.dataset.name
    if name == "shortest_paths":
        return {"train": cfg.dataset.train_size, "eval": cfg.dataset.heldout_size}
    if name not in IMAGES:
        raise ValueError(f"dataset={name}: no image counts known to list_experiments (known: {', '.join(IMAGES)})")
    train, test = IMAGES[name]
    return {"train": train, "eval": test * int(cfg.dataset.get("eval_crops", 1) or 1)}


def budget_nodes() -> Dict[str, object]:
    return {b: compose([f"budget={b}"]).budget for b in BUDGETS}


def capped(images: int, batches, batch_size: int) -> int:
    """Images one epoch sees under a budget's per-epoch batch cap (smoke)."""
    return min(images, batches * batch_size) if batches else images


def describe(preset: str, budgets: Dict[str, object], tflops: float, cost: bool) -> dict:
    jobs = sweep_jobs(preset)
    epochs = {b: set() for b in BUDGETS}
    gpu_hours = {b: 0.0 for b in BUDGETS}
    cache: Dict[tuple, tuple] = {}
    for job in jobs:
        key = tuple(o for o in job if not o.startswith("seed="))  # seeds change nothing here
        if key not in cache:
            cfg = compose([f"experiment={preset}", *key])
            cache[key] = (cfg, count_composed(cfg)["flops"] if cost else 0)
        cfg, flops = cache[key]
        for b, budget in budgets.items():
            n = planned_epochs(OmegaConf.create({"trainer": {"epochs": cfg.trainer.epochs}, "budget": budget}))
            epochs[b].add(n)
            if cost:
                images = images_per_epoch(cfg)
                batch = cfg.trainer.batch_size
                train = capped(images["train"], budget.max_train_batches, batch)
                evaluated = capped(images["eval"], budget.max_eval_batches, cfg.trainer.eval_batch_size or batch)
                gpu_hours[b] += flops * (3 * train + evaluated) * n / (tflops * 1e12) / 3600
    return {"preset": preset, "runs": len(jobs), "epochs": epochs, "gpu_hours": gpu_hours if cost else None}


def span(values: set) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, default=100.0, help="assumed sustained TFLOP/s per GPU")
    parser.add_argument("--only", nargs="*", help="presets to list (default: all)")
    parser.add_argument("--no-cost", action="store_true", help="skip the model builds (runs and epochs only)")
    args = parser.parse_args(argv)
    chosen = args.only or presets()
    unknown = sorted(set(chosen) - set(presets()))
    if unknown:
        print(f"error: unknown presets {unknown}; valid: {', '.join(presets())}", file=sys.stderr)
        return 2
    header = f"{'experiment':<20} {'runs':>5}  " + "  ".join(f"{'ep@' + b:>9}" for b in BUDGETS)
    if not args.no_cost:
        header += "  " + "  ".join(f"{'GPU-h@' + b:>12}" for b in BUDGETS)
    print(header)
    totals = {b: 0.0 for b in BUDGETS}
    runs = 0
    budgets = budget_nodes()
    for preset in chosen:
        d = describe(preset, budgets, args.tflops, not args.no_cost)
        runs += d["runs"]
        line = f"{preset:<20} {d['runs']:>5}  " + "  ".join(f"{span(d['epochs'][b]):>9}" for b in BUDGETS)
        if d["gpu_hours"] is not None:
            line += "  " + "  ".join(f"{d['gpu_hours'][b]:>12.2f}" for b in BUDGETS)
            for b in BUDGETS:
                totals[b] += d["gpu_hours"][b]
        print(line, flush=True)
    total = f"{'total':<20} {runs:>5}  " + "  ".join(f"{'':>9}" for _ in BUDGETS)
    if not args.no_cost:
        total += "  " + "  ".join(f"{totals[b]:>12.1f}" for b in BUDGETS)
        print(total)
        print(f"GPU hours assume {args.tflops:g} TFLOP/s sustained, 3x forward FLOPs per training image and "
              "one forward per evaluated crop (the smoke budget counts its batch caps).")
    else:
        print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
