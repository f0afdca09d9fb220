"""budget=smoke checks that a preset runs end to end, in about a minute on a CPU, whatever the paper's protocol:
one epoch of at most max_train_batches batches, batches capped at max_batch_size images and max_batch_gmacs
forward GMACs (at least two images), evaluation of a fixed subset
of max_eval_batches batches per split, and each post-training analysis at its first and last point only."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from conftest import REPO
from repeatnet_repro.analysis.counting import count_composed
from repeatnet_repro.analysis.post_training import ANALYSES, POINTS, spread
from repeatnet_repro.config import compose
from repeatnet_repro.engine.trainer import batch_sizes, planned_epochs

PRESETS = sorted(str(p.relative_to(REPO / "conf" / "experiment").with_suffix(""))
                 for p in (REPO / "conf" / "experiment").rglob("*.yaml"))
SMOKE = OmegaConf.load(REPO / "conf" / "budget" / "smoke.yaml")


def test_the_smoke_budget_caps_epochs_batches_batch_size_and_analysis_points():
    assert (SMOKE.max_epochs, SMOKE.max_train_batches, SMOKE.max_eval_batches) == (1, 2, 2)
    assert (SMOKE.max_batch_size, SMOKE.max_batch_gmacs, SMOKE.max_analysis_points) == (16, 100, 2)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_presets_smoke_run_sees_a_few_batches_of_at_most_16_images_and_100_gmacs(preset):
    cfg = compose([f"experiment={preset}", "budget=smoke"])
    assert planned_epochs(cfg) == 1
    macs = count_composed(cfg)["macs"]
    sizes = batch_sizes(cfg, macs)
    by_compute = max(2, int(100e9 // macs))
    assert sizes["train"] == min(cfg.trainer.batch_size, 16, by_compute), "the protocol's batch, capped, never raised"
    assert sizes["train"] == 2 or sizes["train"] * macs <= 100e9, "a batch's forward GMACs"
    assert cfg.budget.max_train_batches * sizes["train"] <= 32, "training images per smoke run"
    assert cfg.budget.max_eval_batches * sizes["eval"] <= 32, "test images per evaluation"
    for key, node in (cfg.get("analysis") or {}).items():
        if node.name in POINTS:  # an analysis that evaluates the model once per point
            option = POINTS[node.name]
            points = list(node.get(option) or ANALYSES.params(node.name, skip=1)[option].default)
            assert len(points) > 2, f"{key}: the paper's protocol evaluates more points than smoke keeps"
            assert spread(points, cfg.budget.max_analysis_points) == [points[0], points[-1]], key


@pytest.mark.parametrize("preset, images", [("shardnet/fig5", 2), ("shardnet/table2b", 2), ("softshare/table3", 8)])
def test_the_largest_models_smoke_test_on_fewer_images(preset, images):
    """SL-ResNet-50(n=512) on Tiny ImageNet, SL-ResNet-34(n=512) on ImageNet, WRN-50-2 on ImageNet."""
    cfg = compose([f"experiment={preset}", "budget=smoke"])
    assert batch_sizes(cfg, count_composed(cfg)["macs"]) == {"train": images, "eval": images}
