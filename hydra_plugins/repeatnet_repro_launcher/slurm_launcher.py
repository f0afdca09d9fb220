"""The launcher behind `hydra/launcher=slurm`: hydra-submitit-launcher's SLURM launcher, waiting for every job.

The plugin's launcher collects the jobs' results in order and raises at the first job that ended without
one (cancelled, or out of time-limit retries), abandoning the jobs after it and ending the sweep in a
traceback. This one waits for all of them and records such a job as failed in the sweep's outcomes
(engine/sweep_outcomes.py), so the sweep ends with the one line and exit code 1 that name it.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as PluginSlurmLauncher
from omegaconf import OmegaConf

from repeatnet_repro.engine import sweep_outcomes

log = logging.getLogger(__name__)


class SlurmLauncher(PluginSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        assert self.config is not None and len(job_overrides) > 0
        params = dict(self.params)
        executor = submitit.AutoExecutor(folder=params.pop("submitit_folder"), cluster="slurm",
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        numbers = [initial_job_idx + i for i in range(len(job_overrides))]
        for num, overrides in zip(numbers, job_overrides):
            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
        state = Singleton.get_state()
        jobs = executor.map_array(self, [list(o) for o in job_overrides], ["hydra.sweep.dir"] * len(numbers),
                                  numbers, [f"job_id_for_{n}" for n in numbers], [state] * len(numbers))
        return [_result(job, num, list(overrides)) for job, num, overrides in zip(jobs, numbers, job_overrides)]


def _result(job: Any, num: int, overrides: List[str]) -> JobReturn:
    """The job's own return, or, for a job that ended without one, a failed outcome naming its SLURM state."""
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError:
        error = (f"SLURM job {job.job_id} ended {job.state} without a result (its run record says how far it "
                 "got); rerun the same command to resume it")
        sweep_outcomes.record(num, overrides, error)
        log.warning("job %s: %s", num, error)
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=math.nan)

