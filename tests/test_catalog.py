"""`rr-list` (`make experiments`): models, schemes, data sets with whether their files are there, and every
preset with its runs, epochs and the data it needs, read from the config files without building anything;
`make costs` (scripts/list_experiments.py) adds GPU hours, with no third-party warning inside its table."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO
from repeatnet_repro.config import compose
from repeatnet_repro.data.mnist import RAW_FILES
from repeatnet_repro.engine.trainer import planned_epochs
from test_cli_scripts import script


def columns(stdout: str, section: str) -> dict:
    """first column -> the line's other columns, in one section of the listing."""
    block = stdout.split(section, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    return {line.split()[0]: (line.split(None, 1) + [""])[1] for line in block if line.strip()}


def test_rr_list_says_which_data_is_on_disk_and_what_each_preset_needs(tmp_path):
    for name in RAW_FILES:
        (tmp_path / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        (tmp_path / "MNIST" / "raw" / name).write_bytes(b"")
    for split in ("train", "test"):
        (tmp_path / "cifar10" / split).mkdir(parents=True)
    proc = script("rr-list", f"paths.data_dir={tmp_path}")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "resnet_cifar" in columns(proc.stdout, "models") and "soft" in columns(proc.stdout, "sharing schemes")
    for section in ("models", "sharing schemes"):
        assert not [name for name, what in columns(proc.stdout, section).items() if not what], "each says what it is"
    data = columns(proc.stdout, "data sets")
    assert data["mnist"].startswith("present") and data["cifar100"].startswith("absent")
    assert data["cifar10"].startswith("present as dataset.format=folder"), "an ImageFolder copy, not the pickles"
    assert data["digits"] == "made by the code"
    presets = columns(proc.stdout, "experiment presets")
    assert presets["mnist_schemes"].split()[-1] == "yes"
    assert presets["repeatnet/table2"].endswith("no: cifar100 absent")
    assert presets["shardnet/fig8"].split()[:4] == ["4", "100-200", "15-30", "1"], "runs, epochs per budget"


@pytest.fixture(scope="module")
def listing() -> str:
    return script("rr-list").stdout


@pytest.mark.parametrize("preset, row", [("shardnet/fig8", "shardnet/fig8/sl_resnet_34_n512_tinyimagenet"),
                                         ("softshare/fig5", None), ("demo", None)])
def test_the_listings_epochs_are_the_ones_the_trainer_plans(listing, preset, row):
    listed = columns(listing, "experiment presets")[preset].split()[1:4]
    rows = [f"row={row}"] if row else []
    for budget, shown in zip(("paper", "short", "smoke"), listed):
        planned = planned_epochs(compose([f"experiment={preset}", *rows, f"budget={budget}"]))
        assert str(planned) in shown.split("-"), (budget, shown)


@pytest.mark.slow
def test_make_costs_prints_gpu_hours_and_no_warning():
    proc = subprocess.run([sys.executable, "scripts/list_experiments.py", "--only", "repeatnet/table3", "demo"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # e2cnn's uint8-mask warning is silenced
    lines = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:3]}
    assert lines["repeatnet/table3"][:2] == ["7", "rotmnist"] and float(lines["repeatnet/table3"][-3]) > 0
    assert lines["demo"][:2] == ["1", "digits"]


def test_the_listing_builds_nothing_so_make_experiments_takes_seconds():
    """It was ~2 min when it composed and counted every job; reading YAML needs no model or data library."""
    heavy = ["torchvision", "e2cnn", "pandas", "wandb", "matplotlib", "sklearn"]
    code = ("import contextlib, io, sys; from repeatnet_repro import catalog\n"
            "with contextlib.redirect_stdout(io.StringIO()): catalog.main([])\n"
            f"print([m for m in {heavy!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip() == "[]"
