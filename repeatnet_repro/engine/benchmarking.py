"""Side-by-side timing on a shared machine, and the record a benchmark commits (JSON beside a Markdown table).

Alternatives run interleaved, rep after rep (the order alternating), so a load change hits all of them alike;
a ratio is the ratio of medians, with the min-max of the per-rep ratios beside it. On CPU the clock is the
process's CPU time: with one torch thread that is the work done, whatever other jobs on the machine do to the
wall clock (on a 2-core machine shared with a training run and test suites, wall time varied 2x from one
step to the next). On CUDA it is the wall clock after a synchronise.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .atomic import write_json, write_text
from .compute import cpu_has_native_bf16
from .run_record import git_commit, now, versions


def machine(device: torch.device) -> Dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
           "native_bf16": cpu_has_native_bf16(), "torch_threads": torch.get_num_threads(),
           "device": device.type, **versions()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


class Clock:
    """CPU time of this process on CPU, synchronised wall time on CUDA."""

    def __init__(self, device: torch.device):
        self.device = device
        self.name = "wall (synchronised)" if device.type == "cuda" else "process CPU time"

    def now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return time.perf_counter()
        return time.process_time()


def interleaved(runs: Dict[str, Callable[[], float]], reps: int, warmup: int) -> Dict[str, List[float]]:
    """Call every `runs[name]()` (it returns its own measured quantity) `warmup + reps` times, interleaved,
    the order reversed every other rep; the warm-up calls are dropped."""
    names = list(runs)
    out: Dict[str, List[float]] = {name: [] for name in names}
    for rep in range(warmup + reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            value = runs[name]()
            if rep >= warmup:
                out[name].append(value)
    return out


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Dict[str, float]:
    """median(num) / median(den), and the min-max of the per-rep ratios."""
    per_rep = [n / d for n, d in zip(numerator, denominator)]
    return {"ratio": statistics.median(numerator) / statistics.median(denominator),
            "min": min(per_rep), "max": max(per_rep)}


def fmt_ratio(r: Dict[str, float]) -> str:
    return f"{r['ratio']:.2f} ({r['min']:.2f}-{r['max']:.2f})"


def write_record(out_dir: Path, stem: str, record: Dict[str, Any], markdown: str) -> List[Path]:
    """results/benchmarks/<stem>.json and .md, stamped with the commit and time."""
    record = {**record, "git_commit": git_commit(Path(__file__).resolve().parents[2]), "written": now()}
    paths = [Path(out_dir) / f"{stem}.json", Path(out_dir) / f"{stem}.md"]
    write_json(paths[0], record)
    write_text(paths[1], markdown)
    return paths


def machine_line(m: Dict[str, Any]) -> str:
    bf16 = "native bf16" if m.get("native_bf16") else "no native bf16"
    where = m.get("gpu") or f"{m['cpu']} ({m['cores']} cores, {m['cpu_capability']}, {bf16})"
    return f"{where}; torch {m['torch']}, {m['torch_threads']} torch thread(s)"


MIN_REPS = 5  # the floor: a median of at least five interleaved reps


def add_arguments(parser: argparse.ArgumentParser, kind: str, reps: int) -> None:
    """The options every benchmark script takes: --reps, --device, --threads, --out and --stem."""
    parser.add_argument("--reps", type=int, default=reps, help=f"interleaved repetitions (>= {MIN_REPS})")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default=None, help=f"write {kind}_<device>.json/.md into this folder")
    parser.add_argument("--stem", default=None, help=f"file name stem under --out (default {kind}_<device>)")


def parse(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> Tuple[argparse.Namespace, torch.device]:
    """Parse, refuse fewer than MIN_REPS reps, set torch's CPU threads; returns (args, device)."""
    args = parser.parse_args(argv)
    if args.reps < MIN_REPS:
        parser.error(f"--reps must be >= {MIN_REPS}")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, torch.device(args.device)


def write_if_asked(args: argparse.Namespace, kind: str, record: Dict[str, Any], markdown: str) -> None:
    """--out DIR: DIR/<--stem or kind_<device>>.json and .md."""
    if args.out:
        for path in write_record(Path(args.out), args.stem or f"{kind}_{record['device']}", record, markdown):
            print(f"wrote {path}")
