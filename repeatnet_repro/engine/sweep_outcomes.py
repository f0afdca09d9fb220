"""A sweep's verdict: every job writes its outcome, and after the last one the sweep exits 1 with one line
naming the failed jobs (Hydra itself exits 0 however many failed). Jobs can also leave flags for the jobs
after them (W&B found unreachable).

The outcomes live in a folder the sweep's parent process makes and names in REPEATNET_SWEEP_OUTCOMES, so
jobs in other processes (joblib) or on other nodes (submitit, with the environment exported) report too: for
submitit it is inside the sweep folder (a file system the nodes share), else in this machine's temp dir. A job
that runs again (a requeued SLURM job) replaces its outcome."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, List, Optional

from hydra.experimental.callback import Callback

from .atomic import write_json

ENV = "REPEATNET_SWEEP_OUTCOMES"


def record(job: int, overrides: List[str], error: Optional[str]) -> None:
    """One job's outcome (error None: it completed); a no-op outside a sweep."""
    folder = os.environ.get(ENV)
    if folder and Path(folder).is_dir():
        write_json(Path(folder) / f"{job}.json",
                   {"job": job, "overrides": overrides, "error": error})


def flag(name: str) -> None:
    """Note a fact every later job of this sweep should know (e.g. W&B is unreachable)."""
    folder = os.environ.get(ENV)
    if folder and Path(folder).is_dir():
        (Path(folder) / f"{name}.flag").touch()


def flagged(name: str) -> bool:
    folder = os.environ.get(ENV)
    return bool(folder) and (Path(folder) / f"{name}.flag").exists()


def _jobs_elsewhere(launcher: Optional[str]) -> bool:
    """Whether the launcher may run the jobs on other machines (submitit's launchers, ours among them)."""
    if not launcher:
        return False
    try:
        from hydra.utils import get_class
        from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

        return issubclass(get_class(launcher), BaseSubmititLauncher)
    except Exception:  # no such class, or the plugin is not installed: the jobs run here
        return False


class ReportFailedJobs(Callback):
    """Collects the outcomes of one multirun and turns any failure into exit code 1 after the last job."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        where = Path(config.hydra.sweep.dir) if _jobs_elsewhere(config.hydra.launcher.get("_target_")) else None
        if where is not None:
            where.mkdir(parents=True, exist_ok=True)
        os.environ[ENV] = tempfile.mkdtemp(prefix=".outcomes-" if where else "repeatnet-sweep-", dir=where)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        folder = Path(os.environ.pop(ENV, ""))
        if not folder.name or not folder.is_dir():
            return
        outcomes = sorted((json.loads(p.read_text()) for p in folder.glob("*.json")), key=lambda o: o["job"])
        shutil.rmtree(folder, ignore_errors=True)
        failed = [o for o in outcomes if o["error"]]
        if failed:
            named = "; ".join(f"job {o['job']} ({' '.join(o['overrides'])}): {o['error'].splitlines()[0][:160]}"
                              for o in failed[:5])
            more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
            print(f"error: {len(failed)} of {len(outcomes)} sweep jobs failed: {named}{more}", file=sys.stderr)
            sys.exit(1)
