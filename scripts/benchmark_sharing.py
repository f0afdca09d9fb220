"""What weight sharing costs per training step: shared vs unshared model of the same topology.

Pairs (same layers, only the weights' parametrisation differs):
  soft:   WRN-16-4 (sharing=none)            vs SWRN-16-4-k (sharing=soft, k templates per stage)
  repeat: ResNet-16 k=4 (sharing=none)       vs RepeatNet ResNet-16 (sharing=repeat, k_rep=4)
  soft:   WRN-28-10 (sharing=none)           vs SWRN-28-10-k (--wide; the largest soft model of the papers)
One step = forward + loss (+ the sharing regulariser) + backward, at the precision and memory format a training
run uses on this device (trainer.precision=auto, channels_last=true, or --precision / --channels-last). The variants
run interleaved (engine/benchmarking.py: CPU time on CPU); the ratio shared / unshared is the ratio of medians,
with the min-max over reps (goal <= 1.05). Give --threads 1 on a machine whose cores other jobs also use.

    python scripts/benchmark_sharing.py [--batch 32] [--reps 7] [--templates 2] [--wide] [--out results/benchmarks]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from repeatnet_repro.config import compose  # noqa: E402
from repeatnet_repro.data.base import DataInfo  # noqa: E402
from repeatnet_repro.engine.benchmarking import (Clock, add_arguments, fmt_ratio, interleaved, machine,  # noqa: E402
                                                 machine_line, parse, ratio, write_if_asked)
from repeatnet_repro.engine.compute import resolve_compute  # noqa: E402
from repeatnet_repro.engine.loop import Step  # noqa: E402
from repeatnet_repro.models import build_model  # noqa: E402

CIFAR10 = DataInfo(num_classes=10, in_channels=3, image_size=32)
GOAL = 1.05


def pairs(templates: int, wide: bool) -> Dict[str, Dict[str, List[str]]]:
    """pair name -> {"none": overrides, "shared": overrides}."""
    def wrn(depth: int, widen: int) -> List[str]:
        return ["model=wrn", f"model.depth={depth}", f"model.widen={widen}"]

    soft = ["sharing=soft", f"sharing.templates={templates}"]
    out = {
        f"soft / none (WRN-16-4, k={templates})": {"none": wrn(16, 4) + ["sharing=none"], "shared": wrn(16, 4) + soft},
        "repeat / none (ResNet-16 k=4)": {"none": ["model=resnet16", "model.k=4", "sharing=none"],
                                          "shared": ["model=resnet16", "sharing=repeat", "sharing.k_rep=4"]},
    }
    if wide:
        out[f"soft / none (WRN-28-10, k={templates})"] = {"none": wrn(28, 10) + ["sharing=none"],
                                                          "shared": wrn(28, 10) + soft}
    return out


def stepper(model: torch.nn.Module, step: Step, clock: Clock, x: torch.Tensor, y: torch.Tensor, steps: int):
    """A callable timing `steps` training steps (forward, loss, regulariser, backward) of `model`."""
    def run() -> float:
        start = clock.now()
        for _ in range(steps):
            model.zero_grad(set_to_none=True)
            with step.autocast():
                loss = F.cross_entropy(model(step.inputs(x)).float(), y) + model.sharing.regularization()
            loss.backward()
        return (clock.now() - start) / steps
    return run


def measure(args: argparse.Namespace, device: torch.device) -> Dict:
    compute = resolve_compute(device, args.precision, args.channels_last, False)
    step = Step(device, compute.bf16, compute.channels_last, None)
    clock = Clock(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
    results = {}
    for name, pair in pairs(args.templates, args.wide).items():
        runs, params = {}, {}
        for side, overrides in pair.items():
            torch.manual_seed(0)
            cfg = compose(overrides)
            model = build_model(cfg.model, cfg.sharing, CIFAR10).to(device).train()
            if compute.channels_last:
                model = model.to(memory_format=torch.channels_last)
            runs[side], params[side] = stepper(model, step, clock, x, y, args.steps), \
                sum(p.numel() for p in model.parameters())
        times = interleaved(runs, args.reps, args.warmup)
        results[name] = {"seconds_per_step": times, "median_s": {s: statistics.median(t) for s, t in times.items()},
                         "params": params, **ratio(times["shared"], times["none"])}
        print(f"  {name:34s} {fmt_ratio(results[name])}   none {1000 * results[name]['median_s']['none']:.0f} ms, "
              f"shared {1000 * results[name]['median_s']['shared']:.0f} ms per step", flush=True)
    return {"compute": compute.record(), "clock": clock.name, "batch": args.batch, "reps": args.reps,
            "warmup": args.warmup, "steps_per_rep": args.steps, "goal": GOAL, "pairs": results}


def markdown(record: Dict) -> str:
    c = record["compute"]
    lines = [f"# Weight-synthesis cost: shared / unshared step time ({record['device']})", "",
             f"{machine_line(record['machine'])}; batch {record['batch']}, {c['precision']}, {c['memory_format']}; "
             f"median of {record['reps']} interleaved reps of {record['steps_per_rep']} step(s) "
             f"(forward + backward), {record['clock']}. Goal <= {record['goal']}.", "",
             "| pair | ratio (min-max) | unshared ms/step | shared ms/step | params unshared / shared |",
             "|---|---|---|---|---|"]
    for name, r in record["pairs"].items():
        lines.append(f"| {name} | {fmt_ratio(r)} | {1000 * r['median_s']['none']:.0f} | "
                     f"{1000 * r['median_s']['shared']:.0f} | {r['params']['none']:,} / {r['params']['shared']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1, help="steps per rep")
    parser.add_argument("--templates", type=int, default=2, help="k of SWRN-L-w-k")
    parser.add_argument("--wide", action="store_true", help="add the WRN-28-10 pair")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--channels-last", default=True, type=lambda s: {"true": True, "false": False}[s],
                        help="true | false (default: true, as training)")
    add_arguments(parser, "sharing", reps=7)
    args, device = parse(parser, argv)
    where = machine(device)
    print(f"{machine_line(where)}; batch {args.batch}", flush=True)
    record = {"device": device.type, "machine": where, **measure(args, device)}
    write_if_asked(args, "sharing", record, markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
