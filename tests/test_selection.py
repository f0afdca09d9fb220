"""Which split picks the best epoch, drives a plateau schedule and gives the reported number.

The papers' texts train on 50k and report the final test accuracy; the soft-sharing authors' code trains on
45k, picks the epoch of best validation accuracy and reports its test accuracy. Both are one switch apart
(dataset.val_size, trainer.select_on) and the record says which one a run used.
"""
from __future__ import annotations

import pytest
import torch

from conftest import FAST, read_metrics
from repeatnet_repro.config import compose
from repeatnet_repro.engine import optim, trainer
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.report.collect import flatten
from repeatnet_repro.report.tables import QUANTITIES
from test_data_cifar import write_batches

CIFAR = [*FAST, "dataset=cifar10", "model.widths=[4,8]", "trainer.batch_size=8", "trainer.epochs=4"]


def _cifar(tmp_path, *extra):
    write_batches(tmp_path / "data", "cifar10", per_batch=10)  # 50 train, 10 test images
    return compose([*CIFAR, f"dataset.root={tmp_path / 'data'}", *extra])


def test_a_held_out_validation_split_picks_the_best_epoch_and_its_test_accuracy_is_reported(tmp_path):
    summary = trainer.train(_cifar(tmp_path, "dataset.val_size=10"), tmp_path / "run")
    rows = read_metrics(tmp_path / "run")
    assert all("val_acc" in r and "test_acc" in r for r in rows), "both splits are evaluated every epoch"
    chosen = max(rows, key=lambda r: r["val_acc"])  # the first of equal maxima, as training keeps it
    assert summary["selection"] == {"best_on": "val_acc", "schedule_on": None, "reported": "best"}
    assert summary["best"]["epoch"] == chosen["epoch"]
    assert summary["reported"]["test_acc"] == chosen["test_acc"]
    assert torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)["epoch"] == chosen["epoch"]
    assert QUANTITIES["acc"](flatten(summary, tmp_path / "run")) == chosen["test_acc"]


def test_without_a_validation_split_no_best_epoch_is_picked_on_test_and_the_final_one_is_reported(tmp_path):
    summary = trainer.train(_cifar(tmp_path, "trainer.epochs=2"), tmp_path / "run")
    assert summary["selection"] == {"best_on": None, "schedule_on": None, "reported": "final"}
    assert summary["reported"] == summary["final"]
    assert "best" not in summary and not (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    assert "val_acc" not in read_metrics(tmp_path / "run")[-1]


def test_a_plateau_schedule_without_a_validation_split_steps_on_test_but_picks_no_best_epoch(tmp_path):
    """ShardNet halves the lr when test accuracy plateaus: the schedule reads test, nothing is selected on it."""
    summary = trainer.train(_cifar(tmp_path, "trainer.epochs=2", "schedule=plateau"), tmp_path / "run")
    assert summary["selection"] == {"best_on": None, "schedule_on": "test_acc", "reported": "final"}
    assert "best" not in summary


def test_records_written_before_the_selection_protocol_report_their_final_epoch():
    old = {"status": "completed", "final": {"epoch": 3, "test_acc": 71.0}, "best": {"epoch": 2, "test_acc": 72.0}}
    assert QUANTITIES["acc"](flatten(old, "old-run")) == 71.0


def test_plateau_schedule_steps_on_the_validation_accuracy(tmp_path, monkeypatch):
    seen = []
    step = optim.Schedule.step
    monkeypatch.setattr(optim.Schedule, "step", lambda self, metric=None: (seen.append(metric), step(self, metric)))
    summary = trainer.train(_cifar(tmp_path, "dataset.val_size=10", "schedule=plateau"), tmp_path / "run")
    assert summary["selection"]["schedule_on"] == "val_acc"
    assert seen == [r["val_acc"] for r in read_metrics(tmp_path / "run")]


def test_select_on_test_keeps_the_test_set_in_charge_even_with_a_validation_split(tmp_path):
    summary = trainer.train(_cifar(tmp_path, "dataset.val_size=10", "trainer.select_on=test",
                                   "trainer.epochs=2"), tmp_path / "run")
    assert summary["selection"]["best_on"] == "test_acc" and summary["reported"] == summary["final"]
    assert "val_acc" in summary["final"], "the validation split is still measured"


def test_select_on_val_without_a_validation_split_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"trainer.select_on=val needs .*dataset.val_size > 0"):
        trainer.train(compose([*FAST, "trainer.select_on=val"]), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
