"""The command lines around the package: the console scripts (rr-train, rr-count, rr-report, rr-list) and Hydra's
tab completion through them, `make demo` / `make clean-runs` keeping to git-ignored paths, and
scripts/prepare_data.py on an ImageFolder copy of CIFAR-10."""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

BIN = Path(sys.executable).parent
SCRIPTS = {"rr-train": "repeatnet_repro.train:main", "rr-count": "repeatnet_repro.count:main",
           "rr-report": "repeatnet_repro.report.__main__:main", "rr-list": "repeatnet_repro.catalog:main"}


def script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A console script of the installed package, run outside the repository (as a user would)."""
    path = BIN / name
    assert path.is_file(), f"{path} is missing: reinstall the package (pip install -e .) after editing pyproject"
    return subprocess.run([str(path), *args], cwd=BIN, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0", **env})


def test_console_scripts_point_at_the_entrypoints():
    found = {e.name: e.value for e in importlib.metadata.entry_points(group="console_scripts")
             if e.dist and e.dist.name == "repeatnet_repro"}
    assert found == SCRIPTS


def test_rr_train_help_lists_the_config_groups():
    proc = script("rr-train", "--help")
    assert proc.returncode == 0, proc.stderr
    groups = {line.split(":")[0]: line for line in proc.stdout.splitlines() if ": " in line}
    assert "== Configuration groups ==" in proc.stdout and "soft" in groups["sharing"] and "convnet" in groups["model"]


def test_rr_count_prints_the_counts_as_json():
    proc = script("rr-count", "model=convnet", "sharing=hard")
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    assert counts["sharing"] == "hard" and counts["params"] > 0


def test_rr_report_help_names_every_command():
    proc = script("rr-report", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "{tables,figures,report,all,compare}" in proc.stdout and "--out defaults to <--runs>/report" in proc.stdout


def complete(line: str) -> list:
    """What bash completion offers for `line` (Hydra's query, as its installed bash function asks it)."""
    proc = script("rr-train", "-sc", "query=bash", COMP_LINE=line, COMP_POINT=str(len(line)))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_tab_completion_offers_config_groups_options_and_keys():
    assert "model=" in complete("rr-train mod")
    assert {"sharing=hard", "sharing=none", "sharing=repeat", "sharing=soft"} <= set(complete("rr-train sharing="))
    assert "trainer.epochs=" in complete("rr-train trainer.ep")


def test_completion_installs_as_a_bash_function_for_rr_train():
    proc = script("rr-train", "-sc", "install=bash")
    assert proc.returncode == 0, proc.stderr
    assert "complete -o nospace -o default -F hydra_bash_completion rr-train" in proc.stdout


# ---- make: the demo writes only git-ignored paths, clean-runs spares the curated runs -------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0


@needs_make
@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_make_demo_trains_and_reports_under_results_runs_demo_which_git_ignores():
    recipe = subprocess.run(["make", "-n", "demo"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    train = next(line for line in recipe.replace("\\\n", " ").splitlines() if "repeatnet_repro.train" in line)
    report = next(line for line in recipe.splitlines() if "repeatnet_repro.report" in line)
    assert f"paths.runs_dir={REPO / 'results' / 'runs'}" in train.split()  # the demo preset's sweep: runs/demo/paper
    assert report.split()[-3:] == ["all", "--runs", "results/runs/demo"]  # no --out: the report goes to <runs>/report
    assert ignored("results/runs/demo/paper/seed=0,sharing=none/summary.json")
    assert ignored("results/runs/demo/report/tables/demo_digits.md")
    assert not ignored("results/runs/curated/mnist_schemes/none/summary.json")


@needs_make
def test_make_clean_runs_deletes_every_run_and_report_but_the_curated_ones(tmp_path):
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    runs = tmp_path / "results" / "runs"
    keep = [runs / ".gitkeep", runs / "curated" / "study" / "summary.json", runs / "curated" / "study" / "README.md"]
    gone = [runs / "demo" / "multirun" / "x" / "summary.json", runs / "smoke" / "report" / "README.md",
            runs / "multirun" / "y" / "metrics.jsonl", runs / "stray.txt"]
    for path in keep + gone:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (tmp_path / "results" / "tables").mkdir()
    proc = subprocess.run(["make", "-s", "clean-runs"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert all(p.exists() for p in keep) and not any(p.exists() for p in gone)
    assert sorted(p.name for p in runs.iterdir()) == [".gitkeep", "curated"]
    assert (tmp_path / "results" / "tables").is_dir()
    assert sorted(proc.stdout.split()) == sorted(f"results/runs/{n}" for n in ("demo", "multirun", "smoke", "stray.txt"))


@needs_make
def test_make_help_says_what_clean_runs_keeps():
    out = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if "make clean-runs" in line)
    assert "except curated/" in line


# ---- scripts/prepare_data.py ---------------------------------------------------------------------------------

def test_prepare_data_checks_and_caches_a_cifar10_folder_copy_without_offline(tmp_path, capsys, monkeypatch):
    """A folder copy has nothing to download: without --offline it is read, not fetched."""
    from PIL import Image
    from torchvision.datasets import utils

    from test_data_configs import load_script

    def no_network(*args, **kwargs):
        raise AssertionError("prepare_data tried to download")

    monkeypatch.setattr(utils, "download_and_extract_archive", no_network)
    root = tmp_path / "cifar10"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in range(10):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "0.png")
    prepare = load_script("prepare_data")
    assert prepare.main(["cifar10", "--root", str(root), "--format", "folder"]) == 0
    assert f"cifar10 (folder) at {root}: 10 train, 10 test images" in capsys.readouterr().out
    assert (root / "cache" / "folder.pt").is_file()


def test_prepare_data_without_a_folder_copy_fails_in_one_line_and_downloads_nothing(tmp_path):
    """`--format folder` never downloads, `--offline` or not: a missing copy is the user's to put there."""
    proc = subprocess.run([sys.executable, "scripts/prepare_data.py", "cifar10", "--root", str(tmp_path / "c10"),
                           "--format", "folder"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: cifar10 ImageFolder split 'train' not found")
    assert str(tmp_path / "c10" / "train") in proc.stderr
    assert not (tmp_path / "c10").exists(), "nothing was fetched or created"
