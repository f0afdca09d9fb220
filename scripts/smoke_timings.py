"""How long each experiment preset's smoke run takes here: the check a user runs before a real sweep.

    python scripts/smoke_timings.py [--threads 1] [--jobs 2] [--only shardnet/fig5 ...] [--out results/benchmarks]

Each preset's default row runs once through the real entrypoint (`python -m repeatnet_repro.train`) at
budget=smoke on the CPU, on the stand-in of its data set that runs everywhere (catalog.smoke_stand_in: generated
images of the data set's real size, classes and channels; the shortest-path task's own generator), the models at
their paper sizes. The time is the process's wall time, start-up, data, training, evaluation and analyses
included. --jobs runs that many presets side by side (each with --threads torch threads), as pytest-xdist does;
the record says so. Writes smoke_cpu.json and .md (slowest first) under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from repeatnet_repro.catalog import presets, smoke_stand_in  # noqa: E402
from repeatnet_repro.engine.benchmarking import machine, machine_line, write_record  # noqa: E402

#: the README's promise for a smoke run on this kind of machine
BUDGET_S = 60


def time_preset(preset: str, stand_in: List[str], scratch: Path, threads: int) -> Dict[str, object]:
    run_dir = scratch / preset.replace("/", "-")
    command = [sys.executable, "-m", "repeatnet_repro.train", *stand_in, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HYDRA_FULL_ERROR": "0"}
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    out: Dict[str, object] = {"preset": preset, "seconds": round(seconds, 1), "returncode": proc.returncode}
    summary = run_dir / "summary.json"
    if summary.exists():
        s = json.loads(summary.read_text())
        out.update(status=s.get("status"), batch_size=s.get("batch_size"), macs_per_image=s.get("macs"))
    if proc.returncode != 0:
        out["error"] = (proc.stderr.strip().splitlines() or [""])[-1]
    return out


def markdown(record: Dict[str, object]) -> str:
    lines = [f"# Smoke run of every preset ({record['machine_line']})", "",
             f"{record['jobs']} preset(s) side by side, {record['threads']} torch thread(s) each; wall time of "
             f"`python -m repeatnet_repro.train experiment=<preset> budget=smoke` on generated stand-in data of the "
             f"data set's real size. Slowest first.", "",
             "| preset | seconds | batch (train/eval) | GMACs per image | status |", "|---|---:|---|---:|---|"]
    for r in record["runs"]:
        batch = r.get("batch_size") or {}
        macs = f"{r['macs_per_image'] / 1e9:.2f}" if r.get("macs_per_image") else ""
        lines.append(f"| {r['preset']} | {r['seconds']:.1f} | {batch.get('train', '')}/{batch.get('eval', '')} | "
                     f"{macs} | {r.get('status') or r.get('error')} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="these presets (default: all)")
    parser.add_argument("--out", default=None, help="write smoke_cpu.json/.md into this folder")
    args = parser.parse_args(argv)
    chosen = args.only or presets()
    with tempfile.TemporaryDirectory(prefix="smoke-") as scratch, ThreadPoolExecutor(args.jobs) as pool:
        stand_ins = {p: smoke_stand_in(p, Path(scratch) / "grids")[1] for p in chosen}  # Hydra: one thread
        runs = list(pool.map(lambda p: time_preset(p, stand_ins[p], Path(scratch), args.threads), chosen))
    runs.sort(key=lambda r: -r["seconds"])
    for r in runs:
        print(f"{r['seconds']:7.1f} s  {r['preset']}  {r.get('status') or r.get('error')}")
    m = machine(torch.device("cpu"))
    record = {"machine": m, "machine_line": machine_line({**m, "torch_threads": args.threads}),
              "threads": args.threads, "jobs": args.jobs, "budget_s": BUDGET_S, "runs": runs}
    if args.out:
        for path in write_record(Path(args.out), "smoke_cpu", record, markdown(record)):
            print(f"wrote {path}")
    failed = [r["preset"] for r in runs if r["returncode"] != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
