"""Where a sweep's runs go: one folder per sweep, each job's run dir named by what it computes.

    <paths.runs_dir>/<experiment preset, or multirun>/<paths.sweep (default: the budget's name)>/<job>

<job> is the job's overrides as sorted `key=value` pairs joined by commas (`row=swrn_28_10_4,seed=0`;
a preset's own prefix `<paper>/<item>/` is dropped from row names), without the keys that only say where and
how a run executes (those a resume may change, engine/resume.py: device, progress, logger, paths, data
roots...; but the epochs and the analyses stay, they change what it computes) and the two the path already
holds (experiment, budget). Rerunning the same command, its overrides in any order, so finds each job's run
dir and resumes it; two jobs of one sweep never share a run dir; a folder says which job it is. The job
number is not part of it: it changes when a sweep gains a value.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

from .resume import may_change

#: overrides the sweep folder already names
IN_SWEEP_DIR = ("experiment", "budget")
#: keys a resume may change that still change what a run computes: they stay in the job's name
COMPUTES = ("trainer.epochs", "budget.max_epochs", "analysis")
#: longest job folder name; a longer one keeps its start and gets a hash of the whole
MAX_NAME = 160


def relative_sweep_dir(experiment: Optional[str], sweep: str) -> str:
    """The sweep's folder under the runs dir (also its runs' W&B group)."""
    return f"{experiment or 'multirun'}/{sweep}"


def sweep_dir(runs_dir: str, experiment: Optional[str], sweep: str) -> str:
    return f"{runs_dir}/{relative_sweep_dir(experiment, sweep)}"


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0].split("@")[0]


def job_name(overrides: Sequence[str], experiment: Optional[str] = None) -> str:
    """The run dir name of the job these overrides (Hydra's hydra.overrides.task) make."""
    kept = []
    for override in overrides:
        key = _key(override)
        executes = may_change(key) and not key.startswith(COMPUTES)
        if key in IN_SWEEP_DIR or key.startswith(("hydra.", "hydra/")) or executes:
            continue
        value = override.split("=", 1)[1] if "=" in override else ""
        if experiment and value.startswith(f"{experiment}/"):
            value = value[len(experiment) + 1:]
        kept.append(f"{override.split('=', 1)[0]}={value}".replace("/", "-").replace(" ", ""))
    name = ",".join(sorted(kept)) or "run"
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 13]}-{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


def register() -> None:
    """The resolvers conf/config.yaml's hydra.sweep.dir and hydra.sweep.subdir use."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("sweep_dir", sweep_dir, replace=True)
    OmegaConf.register_new_resolver("job_name", lambda overrides, experiment=None: job_name(
        list(overrides), experiment), replace=True)
