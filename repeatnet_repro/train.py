"""The single train/eval entrypoint: `python -m repeatnet_repro.train [overrides]` (a Hydra app).

Single runs exit non-zero on an error, after one clear line and (training) a `failed` run record; a
failing mode=eval leaves the evaluated run's record as it was. In a multirun (`-m`) a failing job is
recorded as failed and the sweep goes on with the next job.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .config import register_schemas
from .data import DatasetMissingError
from .engine.checkpoint import CheckpointError
from .engine.loop import NonFiniteLossError
from .engine.run_record import RunRecord
from .engine.trainer import evaluate_checkpoint, train
from .registry import ConfigError

log = logging.getLogger("repeatnet_repro")

#: errors a user causes (config, data, files): reported as one line, never as a traceback
USER_ERRORS = (ConfigError, ValueError, DatasetMissingError, CheckpointError, NonFiniteLossError,
               PermissionError)

register_schemas()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    evaluating = cfg.mode == "eval"
    try:
        summary = evaluate_checkpoint(cfg) if evaluating else train(cfg, run_dir)
    except Exception as err:
        record = RunRecord(run_dir, writer=os.environ.get("RANK", "0") == "0")
        if not evaluating and run_dir.exists() and record.summary().get("status") != "failed":
            try:
                record.update_summary(status="failed", error=f"{type(err).__name__}: {err}")
            except OSError:
                pass
        if isinstance(err, USER_ERRORS):
            print(f"error: {err}", file=sys.stderr)
            if multirun:
                return float("nan")
            sys.exit(2)
        if multirun:
            log.exception("job %s failed; the sweep continues", hc.job.num)
            return float("nan")
        raise
    log.info("run record: %s", summary.get("run_dir", run_dir))
    best = summary["eval"] if evaluating else summary.get("best", {})
    return float(best.get("test_f1", best.get("test_acc", float("nan"))))


if __name__ == "__main__":
    main()
