"""A preset is its paper's protocol however it is launched: its sweep only chooses rows, data sets and seeds,
so a single run (`experiment=P row=R`) composes exactly what the sweep's job for that row composes."""
from __future__ import annotations

from typing import Dict, List

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from repeatnet_repro.catalog import presets
from repeatnet_repro.config import CONF_DIR, compose

#: what a preset's sweep may choose; every other value is protocol and belongs in the preset's body
CHOICES = {"row", "dataset", "seed"}


def sweep_jobs(preset: str) -> List[Dict[str, str]]:
    """Each job's overrides, as Hydra's basic sweeper expands the preset's hydra.sweeper.params."""
    params = OmegaConf.select(OmegaConf.load(CONF_DIR / "experiment" / f"{preset}.yaml"), "hydra.sweeper.params",
                              default={})
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return [dict(o.split("=", 1) for o in job) for batch in BasicSweeper.split_arguments(overrides, None)
            for job in batch]


@pytest.mark.parametrize("preset", presets())
def test_a_presets_sweep_chooses_only_rows_data_sets_and_seeds(preset):
    swept = {key for job in sweep_jobs(preset) for key in job}
    assert swept <= CHOICES, f"{preset} sweeps protocol values {sorted(swept - CHOICES)}: set them in its body"


@pytest.mark.parametrize("preset", presets())
def test_a_single_run_of_a_row_is_the_sweeps_job_for_that_row(preset):
    """Without a seed on the command line a single run trains the sweep's first seed (RepeatNet's 42, not 0);
    one row per data set is composed both ways (composing all ~280 jobs twice would take minutes)."""
    jobs = sweep_jobs(preset) or [{}]
    first_seed = jobs[0].get("seed")
    checked = {}
    for job in jobs:
        if job.get("seed") == first_seed:
            checked.setdefault(job.get("dataset"), job)
    for job in checked.values():
        as_sweep_job = compose([f"experiment={preset}", *(f"{k}={v}" for k, v in job.items())])
        single = compose([f"experiment={preset}", *(f"{k}={v}" for k, v in job.items() if k != "seed")])
        assert OmegaConf.to_container(single) == OmegaConf.to_container(as_sweep_job), job


def test_repeatnets_presets_train_its_seed_its_batches_and_its_determinism():
    """RepeatNet's main.py: seed_everything(42), DataLoader(drop_last=True), Trainer(deterministic=True)."""
    for item in ("table1", "table2", "table3", "fig2"):
        cfg = compose([f"experiment=repeatnet/{item}"])
        assert (cfg.seed, cfg.trainer.drop_last, cfg.trainer.deterministic) == (42, True, True), item


def test_protocol_augmentation_and_evaluation_reach_a_single_run():
    assert compose(["experiment=softshare/table4"]).dataset.cutout == 16
    imagenet = compose(["experiment=softshare/table3"]).dataset
    assert (imagenet.color_jitter, imagenet.lighting) == (0.4, 0.1)
    assert compose(["experiment=shardnet/table2b"]).dataset.eval_crops == 10
