"""The single train/eval entrypoint: `python -m repeatnet_repro.train [overrides]` (a Hydra app).

A user's mistake (a config error, missing data, a bad checkpoint, a busy run dir) ends as one `error:`
line and exit code 2 before the run record is touched; an existing record stays as it was. A full disk is
one line too, with exit code 1 and a `failed` record. A failure after training started leaves a `failed`
record, SIGINT/SIGTERM an `interrupted` one (exit 130/143; a SLURM job is then requeued by submitit);
rerunning the same command resumes. In a multirun (`-m`) a failing job is recorded and the sweep goes
on; after the last job the sweep exits 1 with one line naming the failed jobs.
"""
from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .config import CONF_DIR, register_schemas
from .engine import distributed, sweep_outcomes
from .engine.stop_signals import Interrupted
from .engine.trainer import evaluate_checkpoint, train
from .user_errors import exit_code, explain, report

log = logging.getLogger("repeatnet_repro")

register_schemas()


def _remove_eval_log_dir(out_dir: Path) -> None:
    """A failed mode=eval keeps nothing: its Hydra folder (config snapshot and log) goes, and the folder
    holding it when that is left empty."""
    if not out_dir.is_dir() or any(p.name != ".hydra" and p.suffix != ".log" for p in out_dir.iterdir()):
        return
    shutil.rmtree(out_dir, ignore_errors=True)
    if out_dir.parent.is_dir() and not any(out_dir.parent.iterdir()):
        out_dir.parent.rmdir()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def app(cfg: DictConfig) -> float:
    distributed.log_on_rank_zero()
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    evaluating = cfg.mode == "eval"
    try:
        summary = evaluate_checkpoint(cfg) if evaluating else train(cfg, run_dir)
    except KeyboardInterrupt as err:
        if multirun and distributed.rank_from_env() == 0:
            sweep_outcomes.record(hc.job.num, list(hc.overrides.task), f"interrupted ({err})")
        print(f"interrupted: the run record in {run_dir} says so; rerun the same command to resume",
              file=sys.stderr)
        # submitit's signal: submitit requeues the job now (its next run replaces the outcome); a job it does not
        # requeue is over, and ends with its outcome as its result, so the sweep need not wait to hear of it
        if isinstance(err, Interrupted) and err.pass_on() and multirun:
            return float("nan")
        sys.exit(143 if isinstance(err, Interrupted) else 130)
    except Exception as err:
        line = explain(err)
        if evaluating:
            _remove_eval_log_dir(run_dir)
        if multirun:
            if distributed.rank_from_env() == 0:
                sweep_outcomes.record(hc.job.num, list(hc.overrides.task), f"{type(err).__name__}: {err}")
            if line is None:
                log.exception("job %s failed; the sweep continues", hc.job.num)
            else:
                print(f"error: job {hc.job.num}: {line}", file=sys.stderr)
            return float("nan")
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(exit_code(err))
    if multirun and distributed.rank_from_env() == 0:
        sweep_outcomes.record(hc.job.num, list(hc.overrides.task), None)
    log.info("run record: %s", summary.get("run_dir", run_dir))
    reported = summary["eval"] if evaluating else summary.get("reported") or summary.get("final") or {}
    return float(reported.get("test_f1", reported.get("test_acc", float("nan"))))


main = report(app)

if __name__ == "__main__":
    main()
