"""The battery of user mistakes: each one, given to the real entrypoint, ends in exit code 2 and exactly one
`error:` line that names the key (or file) and what would be valid — no traceback — and a run record that
existed before is left byte for byte as it was.

The entrypoint runs in-process (`repeatnet_repro.train.main`, the function behind `python -m` and
`rr-train`), which makes the ~60 cases cost seconds; tests/test_entrypoint.py runs it in subprocesses.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch

from conftest import FAST, read_metrics, read_summary
from repeatnet_repro import train as entrypoint

pytestmark = pytest.mark.slow

TRAIN = [*FAST, "trainer.epochs=2"]


def call(*overrides: str) -> Tuple[int, str]:
    """Run the entrypoint in this process: (exit code, stderr)."""
    argv, err = sys.argv, io.StringIO()
    sys.argv = ["rr-train", *overrides]
    code = 0
    try:
        with contextlib.redirect_stderr(err):
            entrypoint.main()
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.argv = argv
    return code, err.getvalue()


def snapshot(run_dir: Path) -> Dict[str, bytes]:
    """Every file of a run record. Hydra's per-attempt snapshots (.hydra/<time>/) and logs are outside
    it: an attempt adds a snapshot folder and log lines, never rewrites the record."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and ".hydra" not in p.relative_to(run_dir).parts and p.suffix != ".log"
            and p.name != ".lock"}


@pytest.fixture(scope="module")
def completed(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("completed") / "run"
    code, err = call(*TRAIN, f"hydra.run.dir={run_dir}")
    assert code == 0, err
    assert read_summary(run_dir)["status"] == "completed"
    return run_dir


@pytest.fixture
def run_copy(completed, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(completed, copy)
    return copy


def assert_one_line(code: int, err: str, *expected: str, exit_code: int = 2) -> str:
    lines = err.strip().splitlines()
    assert code == exit_code, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "\x1b[" not in err and "weights_only" not in err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


#: (overrides, texts the line must contain): the mistake, the key it names and what would be valid
MISTAKES: List[Tuple[List[str], List[str]]] = [
    (["trainer.epochs=-1"], ["trainer.epochs=-1", "an integer >= 1"]),
    (["trainer.epochs=0"], ["trainer.epochs=0", ">= 1"]),
    (["trainer.epochs=many"], ["trainer.epochs", "could not be converted to Integer"]),
    (["budget.epoch_scale=-1"], ["budget.epoch_scale=-1.0", "> 0"]),
    (["budget.max_epochs=0"], ["budget.max_epochs=0", ">= 1, or null"]),
    (["budget.max_train_batches=0"], ["budget.max_train_batches=0", ">= 1, or null"]),
    (["budget.max_eval_batches=-3"], ["budget.max_eval_batches=-3", ">= 1"]),
    (["trainer.grad_clip=-1"], ["trainer.grad_clip=-1.0", "> 0, or null"]),
    (["trainer.batch_size=0"], ["trainer.batch_size=0", ">= 1"]),
    (["trainer.batch_size=-5"], ["trainer.batch_size=-5", ">= 1"]),
    (["trainer.eval_batch_size=0"], ["trainer.eval_batch_size=0", ">= 1, or null"]),
    (["trainer.checkpoint_every=0"], ["trainer.checkpoint_every=0", ">= 1"]),
    (["trainer.precision=fp16"], ["trainer.precision=fp16", "one of auto, fp32, bf16"]),
    (["trainer.device=gpu"], ["trainer.device=gpu", "auto, cpu, cuda or cuda:N"]),
    (["seed=abc"], ["seed=abc", "an integer >= 0"]),
    (["seed=-1"], ["seed=-1", ">= 0"]),
    (["mode=evaluate"], ["mode=evaluate", "one of train, eval"]),
    (["logger.mode=onlin"], ["logger.mode=onlin", "one of offline, online, disabled"]),
    (["optimizer.lr=-1"], ["optimizer.lr=-1.0", "a finite number > 0"]),
    (["optimizer.lr=1e999"], ["optimizer.lr=inf", "a finite number > 0"]),
    (["optimizer.weight_decay=-1"], ["optimizer.weight_decay=-1.0", ">= 0"]),
    (["optimizer.momentum=1.5"], ["optimizer.momentum=1.5", ">= 0 and < 1"]),
    (["optimizer=adam", "optimizer.beta2=1"], ["optimizer.beta2=1.0", "< 1"]),
    (["schedule.milestones=[abc]"], ["schedule.milestones=['abc']", "a list of integers >= 1"]),
    (["schedule.gamma=0"], ["schedule.gamma=0.0", "> 0"]),
    (["schedule=plateau", "schedule.factor=2"], ["schedule.factor=2.0", "> 0 and < 1"]),
    (["sharing=repeat", "sharing.k_rep=0"], ["sharing.k_rep=0", "an integer >= 1"]),
    (["sharing=soft", "sharing.reg_lambda=-1"], ["sharing.reg_lambda=-1.0", ">= 0"]),
    (["sharing=soft", "sharing.coeff_init=random"], ["sharing.coeff_init=random", "one of orthogonal"]),
    (["model.widths=[0,8]"], ["model.widths=[0, 8]", "a list of integers >= 1"]),
    (["dataset.image_size=4"], ["dataset.image_size=4", ">= 8"]),
    (["dataset.test_fraction=1.5"], ["dataset.test_fraction=1.5", "> 0 and < 1"]),
    (["trainer.epochz=3"], ["trainer.epochz: no such key in trainer", "did you mean trainer.epochs?",
                            "valid keys: allow_protocol_change, batch_size"]),
    (["+trainer.epochz=3"], ["trainer.epochz: no such key in trainer", "did you mean trainer.epochs?"]),
    (["sed=1"], ["sed: no such key", "did you mean seed", "valid keys: analysis"]),
    (["+sed=1"], ["sed: no such key", "did you mean seed"]),
    (["+model.depth=3"], ["model.depth: no such key in model", "valid keys: convs_per_stage"]),
    (["model=nosuch"], ["model=nosuch: no such option", "valid options of model", "wrn"]),
    (["experiment=softshare/tabel1"], ["experiment=softshare/tabel1: no such option",
                                       "(closest first): softshare/table1, "]),
    (["trainer.epochs=[1"], ["cannot parse the override 'trainer.epochs=[1'"]),
    (["checkpoint=some/last.pt"], ["checkpoint=some/last.pt is only read by mode=eval", "trainer.init_from"]),
    (["analysis=[fold]"], ["analysis=fold needs a soft-shared model (sharing=soft)"]),
    (["sharing=soft", "analysis=[fold]", "analysis.fold.thresholds=[0]"],
     ["analysis.fold.thresholds=[0]", "finite numbers > 0 and <= 1"]),
    (["trainer.init_from=/no/such/last.pt"], ["checkpoint /no/such/last.pt does not exist"]),
    (["dataset=cifar10", "dataset.root=/no/such/data"], ["/no/such/data", "prepare_data.py"]),
]
if not torch.cuda.is_available():
    MISTAKES.append((["trainer.device=cuda"], ["trainer.device=cuda but no CUDA device is visible"]))
    MISTAKES.append((["trainer.device=cuda:1"], ["trainer.device=cuda:1 but no CUDA device is visible"]))


@pytest.mark.parametrize("overrides, expected", MISTAKES, ids=[" ".join(o) for o, _ in MISTAKES])
def test_a_mistake_is_one_line_and_a_fresh_dir_gets_only_a_failed_record(tmp_path, overrides, expected):
    run_dir = tmp_path / "run"
    assert_one_line(*call(*TRAIN, *overrides, f"hydra.run.dir={run_dir}"), *expected)
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "checkpoints" / "last.pt").exists()
    if (run_dir / "summary.json").exists():  # a config that composed: the dir says why it holds no run
        assert read_summary(run_dir)["status"] == "failed"


@pytest.mark.parametrize("overrides, expected", MISTAKES[::3], ids=[" ".join(o) for o, _ in MISTAKES[::3]])
def test_a_mistake_rerun_into_a_completed_run_leaves_its_record_byte_identical(run_copy, overrides, expected):
    before = snapshot(run_copy)
    assert_one_line(*call(*TRAIN, *overrides, f"hydra.run.dir={run_copy}"), *expected)
    assert snapshot(run_copy) == before


#: reruns of a completed 2-epoch run that would change what it computes
RESUME_MISTAKES = [
    (["optimizer.lr=0.2"], ["was trained with another config", "optimizer.lr: 0.05 -> 0.2", "what may change:"]),
    (["seed=1"], ["seed: 0 -> 1"]),
    (["sharing=soft"], ["sharing.name: 'none' -> 'soft'"]),
    (["model.widths=[8,16]"], ["model.widths: [16, 32] -> [8, 16]"]),
    (["budget=short"], ["budget.epoch_scale: 1.0 -> 0.15"]),
    (["trainer.epochs=1"], ["has done 2 epochs and this config plans 1", "trainer.epochs >= 2"]),
]


@pytest.mark.parametrize("overrides, expected", RESUME_MISTAKES, ids=[" ".join(o) for o, _ in RESUME_MISTAKES])
def test_resuming_with_a_config_that_changes_the_run_is_refused_naming_the_keys(run_copy, overrides, expected):
    before = snapshot(run_copy)
    assert_one_line(*call(*TRAIN, *overrides, f"hydra.run.dir={run_copy}"), *expected)
    assert snapshot(run_copy) == before


def test_rerunning_a_completed_run_unchanged_is_a_no_op(run_copy):
    before = snapshot(run_copy)
    code, err = call(*TRAIN, "trainer.progress=true", f"hydra.run.dir={run_copy}")
    assert code == 0, err
    assert snapshot(run_copy) == before


def test_extending_a_completed_run_trains_on_and_records_the_change(run_copy):
    code, err = call(*[o for o in TRAIN if not o.startswith("trainer.epochs")], "trainer.epochs=3",
                     f"hydra.run.dir={run_copy}")
    assert code == 0, err
    summary = read_summary(run_copy)
    assert summary["status"] == "completed" and summary["epochs_done"] == 3
    assert [m["epoch"] for m in read_metrics(run_copy)] == [1, 2, 3]
    first, second = summary["attempts"]
    assert first["status"] == second["status"] == "completed"
    assert second["epochs"] == [3, 3] and second["changed"] == {"trainer.epochs": [2, 3]}
    assert summary["wall_time_s"] == pytest.approx(first["seconds"] + second["seconds"])
    assert summary["started"] == first["started"], "the run started with its first attempt"


def test_a_corrupt_checkpoint_in_a_completed_run_is_refused_and_the_record_kept(run_copy):
    (run_copy / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    before = snapshot(run_copy)
    assert_one_line(*call(*TRAIN, f"hydra.run.dir={run_copy}"), "checkpoints/last.pt is unreadable",
                    "truncated or not a torch checkpoint")
    assert snapshot(run_copy) == before and read_summary(run_copy)["status"] == "completed"


class Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_checkpoint_holding_code_is_never_loaded(run_copy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": "repeatnet_repro/checkpoint/v1", "model": Payload()}, run_copy / "checkpoints" / "last.pt")
    before = snapshot(run_copy)
    assert_one_line(*call(*TRAIN, f"hydra.run.dir={run_copy}"), "holds objects other than tensors",
                    "never loaded")
    assert not (tmp_path / "PWNED").exists()
    assert snapshot(run_copy) == before


def test_a_crafted_cifar_batch_is_refused_without_running_its_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]:
        (root / name).write_bytes(pickle.dumps({"data": Payload(), "labels": [0]}, protocol=2))
    line = assert_one_line(*call(*TRAIN, "dataset=cifar10", f"dataset.root={tmp_path / 'data'}",
                                 f"hydra.run.dir={tmp_path / 'run'}"), "data_batch_1", "posix.system")
    assert "refused: unpickling it could run code" in line
    assert not (tmp_path / "PWNED").exists()


def test_a_second_writer_is_refused_naming_the_holder(run_copy):
    before = snapshot(run_copy)
    with open(run_copy / ".lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.seek(0)
        held.truncate()
        held.write("pid 4242 on host elsewhere since 2026-12-01T10:00:00\n")
        held.flush()
        assert_one_line(*call(*TRAIN, "trainer.epochs=3", f"hydra.run.dir={run_copy}"),
                        f"run dir {run_copy} is being written by pid 4242 on host elsewhere")
        assert_one_line(*call("mode=eval", f"checkpoint={run_copy}", "trainer.progress=false"),
                        "is being written by pid 4242")
    assert snapshot(run_copy) == before


def test_a_full_disk_is_one_line_with_exit_code_1_and_the_record_keeps_its_last_complete_state(run_copy,
                                                                                               monkeypatch):
    """Not the user's config (exit 1, not 2); tests/test_full_disk.py fills a real file system."""
    before = snapshot(run_copy)
    real_replace = os.replace

    def full(src, dst):
        if str(dst).startswith(str(run_copy)):
            os.unlink(src)
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    assert_one_line(*call(*[o for o in TRAIN if not o.startswith("trainer.epochs")], "trainer.epochs=3",
                          f"hydra.run.dir={run_copy}"), "no space left on device writing", "free there)",
                    "rerun the same command", exit_code=1)
    monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(run_copy) == before
    assert not list(run_copy.rglob(".*.tmp")), "no temp file is left behind"


def test_eval_of_a_missing_checkpoint_leaves_no_folder_behind(tmp_path):
    runs = tmp_path / "runs"
    assert_one_line(*call("mode=eval", f"checkpoint={tmp_path / 'nowhere' / 'last.pt'}", f"paths.runs_dir={runs}"),
                    "is not a run dir")
    assert not runs.exists() or not any(runs.rglob("*")), list(runs.rglob("*"))


def test_eval_accepts_logger_none_and_writes_only_its_result(run_copy):
    before = snapshot(run_copy)
    code, err = call("mode=eval", f"checkpoint={run_copy}", "logger=none", "trainer.progress=false")
    assert code == 0, err
    after = snapshot(run_copy)
    assert set(after) == set(before) and read_summary(run_copy)["eval"]["epoch"] == 2
    assert {k for k in after if after[k] != before[k]} == {"summary.json"}



def _numeric(annotation) -> bool:
    import typing

    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Union and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) in (list, tuple):
        annotation = typing.get_args(annotation)[0] if typing.get_args(annotation) else None
    return annotation in (int, float)


def test_every_numeric_option_of_every_group_declares_its_valid_values():
    """Ranges live beside the types, for every option that exists now or is added later."""
    import dataclasses
    import typing

    from repeatnet_repro.analysis.post_training import ANALYSES
    from repeatnet_repro.config import CODE_GROUPS, FIXED_GROUPS, RunConfig
    from repeatnet_repro.data import DATASETS
    from repeatnet_repro.engine.optim import OPTIMIZERS, SCHEDULES
    from repeatnet_repro.models import MODELS
    from repeatnet_repro.sharing import SCHEMES

    registries = {"model": MODELS, "sharing": SCHEMES, "dataset": DATASETS, "optimizer": OPTIMIZERS,
                  "schedule": SCHEDULES, "analysis": ANALYSES}
    skips = {**CODE_GROUPS, "analysis": 1}
    undeclared, checked = [], 0
    for group, registry in registries.items():
        for name in registry.choices():
            hints = registry.hints(name)
            for param, constraint in registry.constraints(name, skips[group]).items():
                if _numeric(hints.get(param)):
                    checked += 1
                    if constraint is None:
                        undeclared.append(f"{group}={name}: {param}")
    for group, schema in {**FIXED_GROUPS, "": RunConfig}.items():
        hints = typing.get_type_hints(schema)
        for field in dataclasses.fields(schema):
            if _numeric(hints[field.name]):
                checked += 1
                if "valid" not in field.metadata:
                    undeclared.append(f"{group}.{field.name}")
    assert not undeclared, undeclared
    assert checked > 80


def test_any_cuda_device_this_machine_has_is_accepted_and_one_it_lacks_is_one_line(tmp_path, monkeypatch):
    """trainer.device=cuda:N picks a GPU of a multi-GPU machine; an N past its last is refused before any work."""
    from repeatnet_repro.engine.trainer import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with two GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [resolve_device(name) for name in ("cuda", "cuda:0", "cuda:1")] == [
        torch.device("cuda"), torch.device("cuda", 0), torch.device("cuda", 1)]
    run_dir = tmp_path / "run"
    assert_one_line(*call(*TRAIN, "trainer.device=cuda:2", f"hydra.run.dir={run_dir}"),
                    "trainer.device=cuda:2: this machine has 2 CUDA device(s), cuda:0..cuda:1")
    assert not (run_dir / "metrics.jsonl").exists()
