"""The `dataset` config group and the data scripts: every option composes and builds without touching the
disk, roots follow paths.data_dir, and prepare_data / benchmark_data work from the command line."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from repeatnet_repro.config import compose
from repeatnet_repro.data import build_data

REPO = Path(__file__).resolve().parent.parent
INFO = {  # name -> (classes, channels, size, task)
    "cifar10": (10, 3, 32, "classification"), "cifar100": (100, 3, 32, "classification"),
    "tinyimagenet": (200, 3, 56, "classification"), "imagenet": (1000, 3, 224, "classification"),
    "rotmnist": (10, 1, 29, "classification"), "shortest_paths": (1, 2, 32, "segmentation"),
    "synthetic": (10, 3, 32, "classification"),
}


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(INFO))
def test_every_dataset_option_composes_and_builds_without_io(name, tmp_path):
    cfg = compose([f"dataset={name}", f"paths.data_dir={tmp_path / 'absent'}"])
    source = build_data(cfg.dataset)
    i = source.info
    assert (i.num_classes, i.in_channels, i.image_size, i.task) == INFO[name]
    if name != "synthetic":
        assert cfg.dataset.root == str(tmp_path / "absent" / name)
    assert not (tmp_path / "absent").exists(), "building a source reads and writes nothing"


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REPEATNET_DATA", str(tmp_path))
    assert compose(["dataset=cifar10"]).dataset.root == f"{tmp_path}/cifar10"
    assert compose(["dataset=rotmnist"]).dataset.mnist_root == str(tmp_path)


def test_misspelt_dataset_option_fails_at_compose_time():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="cutuot"):
        compose(["dataset=cifar10", "dataset.cutuot=16"])


def test_prepare_data_generates_shortest_paths_npz(tmp_path, capsys):
    prepare = load_script("prepare_data")
    assert prepare.main(["shortest_paths", "--root", str(tmp_path), "train_size=6", "heldout_size=3"]) == 0
    with np.load(tmp_path / "train_n6_p0.1_seed0.npz") as f:
        assert f["inputs"].shape == (30, 2, 32, 32) and f["targets"].shape == (30, 32, 32)
        assert f["phase"].tolist() == [p for p in range(1, 6) for _ in range(6)]
    assert "heldout_n3_p0.1_seed0.npz: 15 examples" in capsys.readouterr().out


def test_prepare_data_reports_missing_data_with_path_and_command(tmp_path, capsys):
    prepare = load_script("prepare_data")
    assert prepare.main(["cifar10", "--root", str(tmp_path / "c10"), "--offline"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "c10" / "cifar-10-batches-py") in err and "prepare_data.py cifar10 --root" in err
    assert prepare.main(["shortest_paths", "--root", str(tmp_path), "sizes=3"]) == 2
    assert "dataset.sizes: no such key in dataset; did you mean dataset.train_size" in capsys.readouterr().err
    assert prepare.main(["shortest_paths", "--root", str(tmp_path), "train_size"]) == 2
    assert "expected KEY=VALUE, got 'train_size'" in capsys.readouterr().err


def test_benchmark_reports_both_throughputs():
    out = subprocess.run([sys.executable, "scripts/benchmark_data.py", "--images", "512", "--batch-size", "128",
                          "--workers", "0"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "batched tensor path" in out.stdout and "torchvision per-image" in out.stdout and "speed-up" in out.stdout
