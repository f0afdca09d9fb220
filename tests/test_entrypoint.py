"""`python -m repeatnet_repro.train`: real learning, a complete run record, multirun, eval mode, errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FAST, REPO, read_metrics, read_summary, run_entrypoint

pytestmark = pytest.mark.slow


def test_digits_run_learns_and_leaves_a_complete_run_record(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_entrypoint(*FAST, "trainer.epochs=12", "schedule.milestones=[8]", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "completed"
    assert summary["final"]["test_acc"] > 80.0
    assert "best" not in summary and summary["reported"] == summary["final"], "no best epoch picked on test"
    for key in ("model", "dataset", "seed", "params", "params_conv", "flops", "wall_time_s", "versions",
                "git_commit", "tags", "budget"):
        assert key in summary, key
    assert summary["budget"]["epochs"] == 12
    metrics = read_metrics(run_dir)
    assert [m["epoch"] for m in metrics] == list(range(1, 13))
    assert {"lr", "train_loss", "train_acc", "test_loss", "test_acc", "test_top5", "seconds"} <= set(metrics[0])
    assert (run_dir / "config.yaml").read_text().startswith("seed: 0")
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (run_dir / "artifacts").is_dir()
    assert summary["versions"]["torchvision"], "recorded without importing it"
    assert list(run_dir.glob(".hydra/*/overrides.yaml")), "Hydra's snapshot of this attempt, one folder per attempt"

    # mode=eval re-tests the checkpoint into the run's own record (summary `eval`): the same accuracy
    proc = run_entrypoint("mode=eval", f"checkpoint={run_dir / 'checkpoints' / 'last.pt'}", "trainer.progress=false")
    assert proc.returncode == 0, proc.stderr
    evaluated = read_summary(run_dir)
    assert evaluated["status"] == "completed" and evaluated["final"] == summary["final"]
    assert evaluated["eval"]["test_acc"] == pytest.approx(summary["final"]["test_acc"])
    assert evaluated["eval"]["epoch"] == 12


def test_starting_the_entrypoint_imports_no_library_that_only_some_runs_need():
    """torchvision, e2cnn, pandas and wandb each cost seconds per call; synthetic and digits runs need none."""
    heavy = ["torchvision", "e2cnn", "pandas", "wandb", "matplotlib", "sklearn"]
    proc = subprocess.run([sys.executable, "-c", "import sys, repeatnet_repro.train; "
                           f"print([m for m in {heavy!r} if m in sys.modules])"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_multirun_gives_each_job_its_own_record_and_a_failing_job_does_not_stop_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_entrypoint("-m", *FAST, "trainer.epochs=1", "dataset.image_size=4,16",
                          f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=${hydra.job.num}")
    assert proc.returncode == 1, "a sweep with a failed job exits non-zero, after every job ran"
    bad, ok = read_summary(sweep / "0"), read_summary(sweep / "1")
    assert ok["status"] == "completed"
    assert bad["status"] == "failed" and "image_size=4" in bad["error"]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 sweep jobs failed: job 0 (")
    assert "dataset.image_size=4" in proc.stderr.strip().splitlines()[-1]


def test_seed_sweep_writes_one_run_dir_per_seed(tmp_path):
    sweep = tmp_path / "seeds"
    proc = run_entrypoint("-m", *FAST, "trainer.epochs=1", "budget=smoke", "seed=0,1",
                          f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    seeds = sorted(read_summary(d)["seed"] for d in sweep.iterdir() if (d / "summary.json").exists())
    assert seeds == [0, 1]
    job = ("dataset=digits,model.widths=[16,32],model=convnet,optimizer.lr=0.05,seed=0,trainer.batch_size=64,"
           "trainer.epochs=1")
    assert read_summary(sweep / job)["budget"]["name"] == "smoke", "a job's run dir is named by its overrides"


@pytest.mark.parametrize("override, expected", [
    ("trainer.epochz=3", "error: trainer.epochz: no such key in trainer; did you mean trainer.epochs? valid keys: "),
    ("model=no_such_model", "error: model=no_such_model: no such option; valid options of model (closest first): "),
    ("trainer.epochs=many", "error: trainer.epochs: Value 'many' of type 'str' could not be converted to Integer"),
])
def test_bad_config_fails_at_compose_time_naming_the_key_and_the_choices(tmp_path, override, expected):
    proc = run_entrypoint(*FAST, override, f"hydra.run.dir={tmp_path / 'never'}")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith(expected), proc.stderr
    assert not (tmp_path / "never" / "summary.json").exists()


def test_option_unknown_to_the_builder_fails_with_the_valid_options(tmp_path):
    proc = run_entrypoint(*FAST, "+model.depth=3", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: model.depth: no such key in model; did you mean model.widths, "
                                   "model.width_mult? valid keys: convs_per_stage, name, width_mult, widths")


def test_corrupt_checkpoint_stops_with_one_line_and_is_left_untouched(tmp_path):
    run_dir = tmp_path / "run"
    ckpt = run_dir / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    proc = run_entrypoint(*FAST, "trainer.epochs=1", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2
    assert "is unreadable" in proc.stderr and str(ckpt) in proc.stderr
    assert ckpt.read_bytes() == b"not a checkpoint"
    assert read_summary(run_dir)["status"] == "failed"


def test_unwritable_output_dir_is_one_clear_line_before_any_work(tmp_path):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("the run dir would have to be inside this file")
    proc = run_entrypoint(*FAST, "trainer.epochs=1", f"hydra.run.dir={in_the_way / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: output directory {in_the_way / 'run'} is not writable (Not a directory); choose another "
        "with hydra.run.dir=PATH or paths.runs_dir=PATH"]
    assert in_the_way.read_text() == "the run dir would have to be inside this file"


def test_wandb_offline_writes_its_files_into_the_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_entrypoint(*[o for o in FAST if o != "logger=none"], "logger=wandb", "budget=smoke",
                          "tags.paper=demo", "tags.item=digits", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    assert list(offline[0].glob("run-*.wandb"))
    assert read_summary(run_dir)["status"] == "completed"
    assert json.loads((run_dir / "summary.json").read_text())["tags"]["item"] == "digits"


def test_joblib_launcher_runs_two_jobs_in_parallel_processes(tmp_path):
    sweep = tmp_path / "joblib"
    proc = run_entrypoint("-m", *FAST, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "budget=smoke",
                          "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    summaries = [read_summary(d) for d in sorted(sweep.iterdir()) if (d / "summary.json").exists()]
    assert sorted(s["seed"] for s in summaries) == [0, 1]
    assert all(s["status"] == "completed" for s in summaries)
