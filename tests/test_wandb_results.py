"""What a run puts into W&B (offline here, read back from the run's own wandb/ files): final/* in the summary
(and best/* when a validation split picks a best epoch), its figures as images, its tables as wandb.Table, and one group per sweep with the row as job type."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from conftest import FAST, read_summary, run_entrypoint

pytestmark = pytest.mark.slow

WANDB = [*(o for o in FAST if o != "logger=none"), "logger=wandb", "budget=smoke"]


def wandb_records(run_dir: Path) -> list:
    """The records of a run's offline transaction log (<run>/wandb/offline-run-*/run-<id>.wandb): a 7-byte
    header (':W&B', magic, version), then LevelDB-log blocks of 32 KiB, each record crc32 (4), length (2),
    type (1: whole, 2: first, 3: middle, 4: last) and its bytes."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data, records, pos, chunk = path.read_bytes(), [], 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def logged(run_dir: Path) -> dict:
    """The run record W&B holds: group, job type, the summary's last values and the files it logged."""
    out = {"summary": {}, "history": set()}
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["group"], out["job_type"] = record.run.run_group, record.run.job_type
        elif kind == "summary":
            out["summary"].update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                   for item in record.summary.update})
        elif kind == "history":
            out["history"] |= {item.key or item.nested_key[0] for item in record.history.item}
    (files,) = run_dir.glob("wandb/offline-run-*/files")
    out["media"] = sorted(p.name.split("_")[0] for p in files.rglob("*") if p.is_file() and "media" in p.parts)
    return out


def test_a_sweeps_runs_share_a_group_and_log_final_images_and_tables(tmp_path):
    runs = tmp_path / "runs"
    proc = run_entrypoint("-m", *WANDB, "model.convs_per_stage=3", "sharing=soft", "analysis=[fold,lsm]", "seed=0,1",
                          f"paths.runs_dir={runs}")
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(d for d in (runs / "multirun" / "smoke").iterdir() if d.is_dir())
    assert len(jobs) == 2
    for job in jobs:
        summary, wandb = read_summary(job), logged(job)
        assert wandb["group"] == "multirun/smoke", "the sweep's folder: W&B groups the sweep's runs"
        assert wandb["job_type"] == summary["name"], "a run without a preset row is its own type"
        assert wandb["summary"]["final/test_acc"] == pytest.approx(summary["final"]["test_acc"])
        assert not any(k.startswith("best/") for k in wandb["summary"]), "no split held out: no best epoch"
        assert {"images/learning_curves", "images/lsm", "tables/metrics", "tables/fold"} <= wandb["history"]
        assert wandb["media"] == ["fold", "learning", "lsm", "metrics"], "two PNGs and two table files"


def test_a_preset_run_is_grouped_by_its_sweep_and_typed_by_its_row_and_logs_its_blending_weights(tmp_path):
    runs = tmp_path / "runs"
    proc = run_entrypoint("-m", "experiment=shardnet/fig4", "row=shardnet/fig4/sl3_vggnet_n512_cifar10", "model.width=16",
                          "dataset=digits", "dataset.image_size=32", "dataset.channels=3", "logger=wandb", "budget=smoke",
                          "trainer.progress=false", "trainer.device=cpu", f"paths.runs_dir={runs}")
    assert proc.returncode == 0, proc.stderr
    (job,) = [d for d in (runs / "shardnet" / "fig4" / "smoke").iterdir() if d.is_dir()]
    wandb = logged(job)
    assert wandb["group"] == "shardnet/fig4/smoke"
    assert wandb["job_type"] == read_summary(job)["tags"]["row"]
    assert "images/blending_weights" in wandb["history"] and "blending" in wandb["media"]
