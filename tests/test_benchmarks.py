"""The benchmark scripts and the prepared GPU check run end to end (the check's --cpu dry run: tiny sizes on
CPU) and write the records the README quotes; `make experiments` calibrates from a committed GPU record."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, SHARED_DATA
from repeatnet_repro import catalog
from repeatnet_repro.engine.compute import cpu_has_native_bf16

pytestmark = pytest.mark.slow


def test_the_gpu_check_dry_run_writes_every_record(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    npz = SHARED_DATA / "cifar10-jpeg.npz"
    env["CIFAR_NPZ"] = str(npz) if npz.exists() else str(tmp_path / "absent.npz")
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--cpu"], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = json.loads((tmp_path / "dryrun_cpu.json").read_text())
    assert check["model"] == "wrn10_1" and check["compile_backend"] == "aot_eager"
    assert check["train_flops_per_image"] == 3 * check["forward_flops_per_image"] > 0
    epochs = check["epochs"]
    auto = "bf16" if cpu_has_native_bf16() else "fp32"  # trainer.precision=auto on this CPU
    assert {"synthetic, fp32, eager", f"synthetic, {auto}, compiled (aot_eager)"} <= set(epochs)
    assert all(e["seconds"] > 0 and e["tflops"] > 0 for e in epochs.values())
    assert check["compile_vs_eager"] > 0 and check["calibration"]["tflops"] > 0
    if npz.exists():  # the real copy's epoch and the trainer's 2 epochs on it (capped batches in the dry run)
        assert "real CIFAR-10, eager" in epochs
        assert check["accuracy_2_epochs"]["compute"]["precision"] in ("bf16", "fp32")
        assert 0 <= check["accuracy_2_epochs"]["test_acc"] <= 100
    else:
        assert "skipped" in check["accuracy_2_epochs"]
    train = json.loads((tmp_path / "train_cpu.json").read_text())
    r = train["models"]["wrn10_1"]
    assert r["min"] <= r["ratio"] <= r["max"] and len(r["images_per_s"]["reference"]) == train["reps"] == 5
    assert set(train["levers"]["wrn10_1"]["vs_fp32"]) == {"fp32 + channels_last", "bf16", "bf16 + channels_last"}
    assert "| WRN-10-1 (dry runs) |" in (tmp_path / "train_cpu.md").read_text()
    sharing = json.loads((tmp_path / "sharing_cpu.json").read_text())
    assert len(sharing["pairs"]) == 2 and all(p["ratio"] > 0 for p in sharing["pairs"].values())
    assert "repeat / none (ResNet-16 k=4)" in (tmp_path / "sharing_cpu.md").read_text()


def test_the_smoke_timing_script_runs_presets_through_the_entrypoint_and_records_their_wall_time(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/smoke_timings.py", "--jobs", "2", "--only", "shardnet/table1a", "shardnet/table1b",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {r["preset"]: r for r in json.loads((tmp_path / "smoke_cpu.json").read_text())["runs"]}
    assert set(runs) == {"shardnet/table1a", "shardnet/table1b"}, "two presets side by side (--jobs 2)"
    run = runs["shardnet/table1a"]
    assert run["status"] == "completed" and run["seconds"] > 0
    assert run["batch_size"] == {"train": 16, "eval": 16} and run["macs_per_image"] > 0
    assert "| shardnet/table1a |" in (tmp_path / "smoke_cpu.md").read_text()


def list_experiments():
    spec = importlib.util.spec_from_file_location("list_experiments", REPO / "scripts" / "list_experiments.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_hour_estimate_calibrates_from_the_newest_gpu_record_and_says_which_it_used(tmp_path):
    """`make costs` (scripts/list_experiments.py) divides by it; `make experiments` (the catalog) says which."""
    assert list_experiments().gpu_throughput is catalog.gpu_throughput  # one rule for both
    gpu_throughput = catalog.gpu_throughput
    tflops, source = gpu_throughput(None, tmp_path)
    assert tflops == 100.0 and "assumed" in source

    def record(name, device, tflops, written):
        (tmp_path / name).write_text(json.dumps({"device": device, "gpu": "NVIDIA H200", "written": written,
                                                 "calibration": {"tflops": tflops, "from": "wrn28_10 epoch"}}))
    record("gpu_cpu.json", "cpu", 1.0, "2030-01-01T00:00:00")  # a dry run is no GPU measurement
    record("gpu_nvidia_h200.json", "cuda", 412.5, "2026-12-01T00:00:00")
    record("gpu_nvidia_h100.json", "cuda", 390.0, "2026-11-01T00:00:00")
    (tmp_path / "gpu_broken.json").write_text("{")  # a half-written record is passed over
    tflops, source = gpu_throughput(None, tmp_path)
    assert tflops == 412.5 and "measured on NVIDIA H200" in source and "gpu_nvidia_h200.json" in source
    assert gpu_throughput(250.0, tmp_path) == (250.0, "250 TFLOP/s (--tflops)")


def test_make_experiments_ends_with_the_throughput_its_gpu_hours_divide_by(capsys):
    assert catalog.main([]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("GPU hours (make costs) divide by ") and "TFLOP/s" in last
