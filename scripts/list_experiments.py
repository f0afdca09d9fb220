"""Every experiment preset with what it costs: runs, data sets, epochs per budget and a rough GPU-hour estimate.

    python scripts/list_experiments.py [--tflops 100] [--only softshare/table1 ...] [--no-cost]

Runs = rows x data sets x seeds (x any other swept key) from each preset's hydra.sweeper.params. Epochs are
the preset's trainer.epochs scaled by each budget (conf/budget: paper, short, smoke) as the trainer plans
them. GPU hours (`gpu_hours`) = sum over runs of FLOPs(one image, forward) x (3 x train images + eval images
x crops) x epochs / throughput, with a budget's per-epoch batch caps applied to the image counts: a training
image costs about three forward passes (forward + backward), an evaluated crop one. Assumption: a sustained
--tflops (default 100 TFLOP/s: bf16 autocast on one H100, about a tenth of its dense peak; small CIFAR models
at batch 64-128 get less), unless results/benchmarks/ holds a GPU record from scripts/gpu_check.sh: then
its measured TFLOP/s (the last line says which was used). FLOPs are counted on PyTorch's meta device (the
count CLI's build; e2cnn models, which compute their bases, on the CPU). Each job's config is composed as the
trainer would see it, in one worker process per CPU core; nothing is cached between calls.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"
sys.path.insert(0, str(REPO))

from repeatnet_repro.catalog import gpu_throughput, presets, sweep_params  # noqa: E402

BUDGETS = ("paper", "short", "smoke")

#: images per epoch: (train, eval) of each data set's standard split; eval is multiplied by dataset.eval_crops
IMAGES = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "tinyimagenet": (100_000, 10_000),
          "imagenet": (1_281_167, 50_000), "rotmnist": (12_000, 50_000), "digits": (1_437, 360),
          "mnist": (60_000, 10_000)}


def sweep_jobs(preset: str) -> List[List[str]]:
    """Every job's overrides (the basic sweeper's cartesian product of the preset's swept values)."""
    axes = [[f"{key}={v}" for v in values] for key, values in sweep_params(preset).items()]
    return [list(job) for job in itertools.product(*axes)]


def images_per_epoch(cfg) -> Dict[str, int]:
    name = cfg.dataset.name
    if name == "shortest_paths":
        return {"train": cfg.dataset.train_size, "eval": cfg.dataset.heldout_size}
    if name not in IMAGES:
        raise ValueError(f"dataset={name}: no image counts known to list_experiments (known: {', '.join(IMAGES)})")
    train, test = IMAGES[name]
    return {"train": train, "eval": test * int(cfg.dataset.get("eval_crops", 1) or 1)}


def capped(images: int, batches: Optional[int], batch_size: int) -> int:
    """Images one epoch sees under a budget's per-epoch batch cap (smoke)."""
    return min(images, batches * batch_size) if batches else images


def gpu_hours(flops: int, images: Dict[str, int], batch: Dict[str, int], budget: dict, epochs: int,
              tflops: float) -> float:
    """GPU hours of one run: (3 x train + eval) images per epoch, capped by the budget, at `tflops`."""
    train = capped(images["train"], budget.get("max_train_batches"), batch["train"])
    evaluated = capped(images["eval"], budget.get("max_eval_batches"), batch["eval"])
    return flops * (3 * train + evaluated) * epochs / (tflops * 1e12) / 3600


_WORKER_READY = False


def describe_job(preset: str, overrides: Tuple[str, ...], budgets: Dict[str, dict], cost: bool) -> dict:
    """One job (its seeds aside): data set, epochs per budget and, with `cost`, its FLOPs per image and
    images per epoch and batch sizes under each budget."""
    global _WORKER_READY
    from hydra import compose, initialize_config_dir

    from repeatnet_repro.config import register_schemas
    from repeatnet_repro.count import count_composed
    from repeatnet_repro.engine.trainer import batch_sizes, planned_epochs

    if not _WORKER_READY:  # one Hydra per worker process, for all its jobs
        register_schemas()
        initialize_config_dir(config_dir=str(CONF), version_base="1.3")
        _WORKER_READY = True
    cfg = compose(config_name="config", overrides=[f"experiment={preset}", *overrides])
    out = {"dataset": cfg.dataset.name, "epochs": {}, "batch": {}}
    counts = count_composed(cfg) if cost else {"macs": 0}  # without costs no batch size is used
    for name, budget in budgets.items():
        plan = OmegaConf.create({"trainer": OmegaConf.to_container(cfg.trainer, resolve=True), "budget": budget})
        out["epochs"][name], out["batch"][name] = planned_epochs(plan), batch_sizes(plan, counts["macs"])
    if cost:
        out.update(flops=counts["flops"], images=images_per_epoch(cfg))
    return out


def describe(preset: str, jobs: Dict[Tuple[str, ...], dict], runs: Dict[Tuple[str, ...], int],
             budgets: Dict[str, dict], tflops: float) -> dict:
    """A preset's line: runs, data sets, epochs per budget and (when counted) GPU hours per budget."""
    epochs = {b: {job["epochs"][b] for job in jobs.values()} for b in BUDGETS}
    hours = None
    if all("flops" in job for job in jobs.values()):
        hours = {b: sum(runs[key] * gpu_hours(job["flops"], job["images"], job["batch"][b], budgets[b],
                                              job["epochs"][b], tflops) for key, job in jobs.items())
                 for b in BUDGETS}
    return {"preset": preset, "runs": sum(runs.values()), "datasets": sorted({j["dataset"] for j in jobs.values()}),
            "epochs": epochs, "gpu_hours": hours}


def span(values: set) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflops", type=float, default=None,
                        help="sustained TFLOP/s per GPU (default: the committed GPU record's, else 100)")
    parser.add_argument("--only", nargs="*", help="presets to list (default: all)")
    parser.add_argument("--no-cost", action="store_true", help="skip the model builds (runs and epochs only)")
    args = parser.parse_args(argv)
    args.tflops, throughput = gpu_throughput(args.tflops)
    chosen = args.only or presets()
    unknown = sorted(set(chosen) - set(presets()))
    if unknown:
        print(f"error: unknown presets {unknown}; valid: {', '.join(presets())}", file=sys.stderr)
        return 2
    from repeatnet_repro.config import compose

    budgets = {b: OmegaConf.to_container(compose([f"budget={b}"]).budget) for b in BUDGETS}
    runs: Dict[str, Dict[Tuple[str, ...], int]] = {}
    for preset in chosen:  # seeds change nothing here: one job per other combination, counted per seed
        runs[preset] = {}
        for job in sweep_jobs(preset):
            key = tuple(o for o in job if not o.startswith("seed="))
            runs[preset][key] = runs[preset].get(key, 0) + 1
    work = [(p, key) for p in chosen for key in runs[p]]
    with ProcessPoolExecutor(max_workers=min(len(work), os.cpu_count() or 1)) as pool:
        done = pool.map(describe_job, *zip(*work), itertools.repeat(budgets), itertools.repeat(not args.no_cost),
                        chunksize=4)
        described = dict(zip(work, done))

    header = f"{'experiment':<22} {'runs':>5}  {'data sets':<30}" + "".join(f"{'ep@' + b:>9}" for b in BUDGETS)
    if not args.no_cost:
        header += "".join(f"{'GPU-h@' + b:>14}" for b in BUDGETS)
    print(header)
    totals, total_runs = {b: 0.0 for b in BUDGETS}, 0
    for preset in chosen:
        d = describe(preset, {key: described[(preset, key)] for key in runs[preset]}, runs[preset], budgets,
                     args.tflops)
        total_runs += d["runs"]
        line = f"{preset:<22} {d['runs']:>5}  {','.join(d['datasets']):<30}" + "".join(
            f"{span(d['epochs'][b]):>9}" for b in BUDGETS)
        if d["gpu_hours"] is not None:
            line += "".join(f"{d['gpu_hours'][b]:>14.2f}" for b in BUDGETS)
            for b in BUDGETS:
                totals[b] += d["gpu_hours"][b]
        print(line)
    total = f"{'total':<22} {total_runs:>5}  {'':<30}" + "".join(f"{'':>9}" for _ in BUDGETS)
    if not args.no_cost:
        print(total + "".join(f"{totals[b]:>14.1f}" for b in BUDGETS))
        print(f"GPU hours assume {throughput}, 3x forward FLOPs per training image and "
              "one forward per evaluated crop (the smoke budget counts its batch caps).")
    else:
        print(total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
