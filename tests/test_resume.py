"""Resume: an interrupted run continued from its checkpoint ends exactly where an uninterrupted one does, and
never under another protocol than it began with unless asked to, and then the record and the report say so."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import FAST, REPO, read_metrics, read_summary
from repeatnet_repro.config import CODE_GROUPS, FIXED_GROUPS, RunConfig, compose
from repeatnet_repro.data import DATASETS
from repeatnet_repro.engine import loop, resume, tasks, trainer
from repeatnet_repro.engine.optim import OPTIMIZERS, SCHEDULES
from repeatnet_repro.models import MODELS
from repeatnet_repro.report import collect, index, tables
from repeatnet_repro.sharing import SCHEMES
from test_user_errors import assert_one_line, call, snapshot

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
    first = _train(tmp_path / "first", "trainer.epochs=2", "trainer.select_on=test")  # keeps a best epoch
    ckpt = tmp_path / "first" / "checkpoints" / "last.pt"
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    out = _train(tmp_path / "second", "trainer.epochs=2", "trainer.select_on=test", f"trainer.init_from={ckpt}")
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
    summary = _train(run_dir, "trainer.epochs=3", "trainer.select_on=test")  # a best epoch picked on test
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] == summary["best"]["epoch"]
    assert best["best"] == summary["best"]
    if best["epoch"] == 3:
        assert (run_dir / "checkpoints" / "best.pt").stat().st_ino == (run_dir / "checkpoints" / "last.pt").stat().st_ino


# ---- keys the code gained after a run began ------------------------------------------------------------------

REGISTRIES = {"model": MODELS, "sharing": SCHEMES, "dataset": DATASETS, "optimizer": OPTIMIZERS,
              "schedule": SCHEDULES}
CURATED = sorted(p for p in (REPO / "results" / "runs" / "curated").rglob("config.yaml") if ".hydra" not in p.parts)


def schema_keys(config: dict) -> set:
    """Every dotted key today's schema gives a run of `config`'s options (fixed groups, and each code group's
    option by its builder's signature)."""
    keys = {f.name for f in dataclasses.fields(RunConfig)}
    keys |= {f"{group}.{f.name}" for group, schema in FIXED_GROUPS.items() for f in dataclasses.fields(schema)}
    for group, skip in CODE_GROUPS.items():
        keys |= {f"{group}.{k}" for k in ["name", *REGISTRIES[group].params(config[group]["name"], skip)]}
    return keys


def began_before(run_dir: Path, *keys: str) -> None:
    """Make `run_dir` look begun before the code gained `keys`: drop them from its config.yaml and from the
    config its checkpoint holds (the one a resume is checked against)."""
    config = OmegaConf.load(run_dir / "config.yaml")
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for key in keys:
        group, name = key.split(".")
        del config[group][name], state["config"][group][name]
    OmegaConf.save(config, run_dir / "config.yaml")
    (run_dir / "checkpoints" / "last.pt").unlink()  # best.pt may be the same file: keep it as it was
    torch.save(state, run_dir / "checkpoints" / "last.pt")


#: tagged as a preset's run, so the report's index lists it under that experiment
TAGGED = [*SETUP, "tags.paper=repeatnet", "tags.item=table3"]


@pytest.fixture
def old_run(tmp_path) -> Path:
    """A completed 1-epoch run, trained through the entrypoint."""
    run_dir = tmp_path / "run"
    code, err = call(*TAGGED, "trainer.epochs=1", f"hydra.run.dir={run_dir}")
    assert code == 0, err
    return run_dir


def extend(run_dir: Path, *extra: str):
    return call(*TAGGED, "trainer.epochs=2", *extra, f"hydra.run.dir={run_dir}")


def test_a_gained_key_at_what_the_code_did_before_it_resumes_and_the_attempt_lists_it(old_run):
    began_before(old_run, "trainer.drop_last")  # null: each data set's own habit, what every run did
    code, err = extend(old_run)
    assert code == 0, err
    summary = read_summary(old_run)
    assert [m["epoch"] for m in read_metrics(old_run)] == [1, 2] and summary["status"] == "completed"
    assert summary["attempts"][-1]["changed"] == {"trainer.drop_last": [resume.ABSENT, None],
                                                  "trainer.epochs": [1, 2]}
    assert "protocol_changed" not in summary and "protocol_changed" not in summary["attempts"][-1]


def test_a_gained_key_whose_value_differs_from_what_the_run_did_is_refused_in_one_line_leaving_the_record(old_run):
    began_before(old_run, "trainer.select_on")  # the best epoch was picked on test; today's default is auto
    before = snapshot(old_run)
    assert_one_line(*extend(old_run), f"run dir {old_run} began before the code gained",
                    "trainer.select_on: did test -> now auto", "resume it as it ran with trainer.select_on=test",
                    "add trainer.allow_protocol_change=true", "protocol changed at epoch 2")
    assert snapshot(old_run) == before
    code, err = extend(old_run, "trainer.select_on=test")  # as the line says: it resumes as it ran
    assert code == 0, err
    assert "protocol_changed" not in read_summary(old_run)


def test_forcing_a_protocol_change_trains_on_and_the_record_and_the_report_mark_the_run(old_run, tmp_path):
    began_before(old_run, "trainer.select_on")
    code, err = extend(old_run, "trainer.allow_protocol_change=true")
    assert code == 0, err
    summary = read_summary(old_run)
    assert [m["epoch"] for m in read_metrics(old_run)] == [1, 2] and summary["status"] == "completed"
    keys = {"trainer.select_on": ["test", "auto"]}
    assert summary["protocol_changed"] == {"epoch": 2, "keys": keys}
    assert summary["attempts"][-1]["protocol_changed"] == keys and "protocol_changed" not in summary["attempts"][0]

    runs = collect.load_runs(old_run.parent)
    page = index.write_index(tmp_path / "report" / "README.md", tables.load_reported(REPO / "results" / "paper"),
                             runs, REPO / "conf", "run records under runs/").read_text()
    assert f"- `{old_run}`: protocol changed at epoch 2 (trainer.select_on: test -> auto)" in page
    status = [line for line in page.splitlines() if line.startswith("| repeatnet/table3 ")][0]
    assert "(1 runs, 1 protocol changed at epoch 2)" in status


def test_rot_mnist_resumed_from_before_its_augmentation_fix_is_refused_naming_each_key():
    """The issue's case: a run begun when rot-MNIST rotated at 29 px, flipped nothing and normalised its pixels."""
    new = OmegaConf.to_container(compose([*FAST, "dataset=rotmnist", "model=cnn_rotmnist"]), resolve=True)
    old = {**new, "dataset": {k: v for k, v in new["dataset"].items()
                              if k not in ("upsample", "vflip", "flip", "normalize")}}
    with pytest.raises(resume.ResumeMismatch) as refused:
        resume.check_resume("run", old, new, 3, 10)
    assert ("dataset.flip: did false -> now true, dataset.normalize: did true -> now false, "
            "dataset.upsample: did 1 -> now 3, dataset.vflip: did false -> now true") in str(refused.value)
    assert "dataset.flip=false dataset.normalize=true dataset.upsample=1 dataset.vflip=false" in str(refused.value)
    assert "protocol changed at epoch 4" in str(refused.value)


def test_a_gained_key_the_table_does_not_declare_is_refused_whatever_its_value():
    old, new = {"trainer": {"epochs": 4}}, {"trainer": {"epochs": 4, "shiny": None}}
    with pytest.raises(resume.ResumeMismatch, match=r"trainer.shiny: did undeclared \(engine/resume.py GAINED\) "
                                                    r"-> now null\); resume it as it ran, or add"):
        resume.check_resume("run", old, new, 2, 4)
    forced = {"trainer": {**new["trainer"], "allow_protocol_change": True}}
    assert resume.check_resume("run", old, forced, 2, 4) == {"trainer.allow_protocol_change": [resume.ABSENT, True],
                                                             "trainer.shiny": [resume.ABSENT, None]}


@pytest.mark.parametrize("record", CURATED, ids=[str(p.parent.relative_to(REPO)) for p in CURATED])
def test_every_key_a_committed_record_lacks_is_declared_with_what_the_code_did_before(record):
    """A key added to a schema without a GAINED entry would be refused on resume; this names it first."""
    old = OmegaConf.to_container(OmegaConf.load(record), resolve=False)
    have = set(resume.flatten(old))
    lacking = {k for k in schema_keys(old) if k not in have and not any(h.startswith(k + ".") for h in have)}
    undeclared = {resume.gained_name(k, old) for k in lacking if not resume.may_change(k)} - set(resume.GAINED)
    assert not undeclared, "declare in engine/resume.py GAINED what the code did before these keys existed"


def test_every_declared_gained_key_is_a_key_of_todays_schema():
    """No stale or misspelt entry: each names a key today's schema has."""
    for name in resume.GAINED:
        group, _, key = name.partition(".")
        if "[" in group:
            group, option = group[:-1].split("[")
            assert key in REGISTRIES[group].params(option, CODE_GROUPS[group]), name
        else:
            assert key in {f.name for f in dataclasses.fields(FIXED_GROUPS[group])}, name
