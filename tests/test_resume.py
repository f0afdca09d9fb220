"""Resume: an interrupted run continued from its checkpoint ends exactly where an uninterrupted one does."""
from __future__ import annotations

import pytest
import torch

from conftest import FAST, read_metrics, read_summary
from repeatnet_repro.config import compose
from repeatnet_repro.engine import loop, tasks, trainer

SETUP = [*FAST, "trainer.epochs=4", "trainer.deterministic=true", "schedule.milestones=[2]",
         "model.widths=[8,16]"]


def _train(run_dir, *extra):
    cfg = compose([*SETUP, *extra])
    return trainer.train(cfg, run_dir)


def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    straight = _train(tmp_path / "straight")

    real_epoch = loop.train_epoch
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated preemption")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "resumed")
    assert read_summary(tmp_path / "resumed")["status"] == "interrupted"
    assert [m["epoch"] for m in read_metrics(tmp_path / "resumed")] == [1, 2]
    monkeypatch.setattr(trainer, "train_epoch", real_epoch)

    resumed = _train(tmp_path / "resumed")  # same run dir: picks up checkpoints/last.pt
    assert resumed["status"] == "completed"
    assert [m["epoch"] for m in read_metrics(tmp_path / "resumed")] == [1, 2, 3, 4]
    assert resumed["final"]["test_acc"] == straight["final"]["test_acc"]
    assert resumed["final"]["train_loss"] == pytest.approx(straight["final"]["train_loss"], rel=1e-6)
    assert resumed["final"]["test_loss"] == pytest.approx(straight["final"]["test_loss"], rel=1e-6)


def test_init_from_another_runs_checkpoint_is_a_fine_tune_with_its_own_metrics(tmp_path):
    first = _train(tmp_path / "first", "trainer.epochs=2")
    ckpt = tmp_path / "first" / "checkpoints" / "last.pt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    out = _train(tmp_path / "second", "trainer.epochs=2", f"trainer.init_from={ckpt}")
    assert [m["epoch"] for m in read_metrics(tmp_path / "second")] == [1, 2], "its own epochs, from 1"
    assert out["status"] == "completed"
    assert out["init_from"] == {"checkpoint": str(ckpt.resolve()), "epoch": 2, "run_dir": str((tmp_path / "first").resolve())}
    assert out["best"] != first["best"], "no best copied from the other run"
    assert read_metrics(tmp_path / "second")[0]["test_acc"] > read_metrics(tmp_path / "first")[0]["test_acc"], \
        "it starts from the trained weights"


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    _train(run_dir, "trainer.epochs=1")
    good = (run_dir / "checkpoints" / "last.pt").read_bytes()

    monkeypatch.setattr(tasks.Classification, "loss", lambda self, logits, y: logits.sum() * float("nan"))
    with pytest.raises(loop.NonFiniteLossError):
        _train(run_dir, "trainer.epochs=3")
    assert (run_dir / "checkpoints" / "last.pt").read_bytes() == good
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and "NonFiniteLossError" in summary["error"]
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1]


def test_wandb_failure_degrades_to_the_local_record_with_one_warning(tmp_path, monkeypatch, caplog):
    import wandb

    def broken_init(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(wandb, "init", broken_init)
    cfg_overrides = [o for o in SETUP if o != "logger=none"] + ["logger=wandb", "trainer.epochs=1"]
    out = trainer.train(compose(cfg_overrides), tmp_path / "run")
    assert out["status"] == "completed"
    warnings = [r for r in caplog.records if "W&B unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_best_checkpoint_is_the_epoch_the_summary_reports_as_best(tmp_path):
    run_dir = tmp_path / "run"
    summary = _train(run_dir, "trainer.epochs=3")
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] == summary["best"]["epoch"]
    assert best["best"] == summary["best"]
    if best["epoch"] == 3:
        assert (run_dir / "checkpoints" / "best.pt").stat().st_ino == (run_dir / "checkpoints" / "last.pt").stat().st_ino
