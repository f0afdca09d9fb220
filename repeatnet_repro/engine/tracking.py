"""Experiment tracking in Weights & Biases, degrading to the local run record on any W&B failure.

A W&B run gets every epoch's metrics, the summary with `best/*` and `final/*` (the record's best and final
epochs), and at the end the run's figures as images and its tables as wandb.Table (report/run_view.py). The
runs of one sweep share a group (`<experiment or multirun>/<sweep>`, the sweep's folder: engine/sweep_layout.py)
and each row is a job type, so W&B's grouped views compare the rows of a sweep over their seeds."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import sweep_layout, sweep_outcomes

log = logging.getLogger(__name__)


class Tracker:
    """No tracking: the local run record is all there is."""

    def log_epoch(self, row: Dict[str, Any]) -> None:
        pass

    def log_summary(self, summary: Dict[str, Any]) -> None:
        pass

    def log_artifacts(self, folder: Path) -> None:
        pass

    def log_results(self, run_dir: Path) -> None:
        pass

    def finish(self, failed: bool) -> None:
        pass


class WandbTracker(Tracker):
    """One W&B run per run dir (its id is kept in the run dir, so a resumed run continues it)."""

    def __init__(self, run: Any):
        self.run = run
        self.alive = True

    def _guard(self, what: str, fn, *args) -> None:
        if not self.alive:
            return
        try:
            fn(*args)
        except Exception as err:  # a tracking failure must never kill training
            self.alive = False
            log.warning("W&B %s failed (%s: %s); continuing with the local run record only",
                        what, type(err).__name__, err)

    def log_epoch(self, row: Dict[str, Any]) -> None:
        self._guard("log", lambda: self.run.log(row, step=row["epoch"]))

    def log_summary(self, summary: Dict[str, Any]) -> None:
        flat = {k: v for k, v in summary.items()
                if isinstance(v, (int, float, str, bool)) or k in ("reference", "analysis")}
        for part in ("best", "final"):
            flat.update({f"{part}/{k}": v for k, v in (summary.get(part) or {}).items()
                         if isinstance(v, (int, float)) and not isinstance(v, bool)})
        self._guard("summary", lambda: self.run.summary.update(flat))

    def log_artifacts(self, folder: Path) -> None:
        def upload() -> None:
            import wandb

            files = [p for p in Path(folder).rglob("*") if p.is_file()]
            if files:
                art = wandb.Artifact(f"artifacts-{self.run.id}", type="run-artifacts")
                art.add_dir(str(folder))
                self.run.log_artifact(art)

        self._guard("artifact upload", upload)

    def log_results(self, run_dir: Path) -> None:
        """The run's figures (images/<name>) and tables (tables/<name>), at its last epoch's step."""
        def upload() -> None:
            import matplotlib.pyplot as plt
            import wandb

            from ..report import run_view

            tables = run_view.tables(run_dir)
            payload = {f"tables/{name}": wandb.Table(dataframe=frame) for name, frame in tables.items()}
            for name, fig in run_view.figures(run_dir).items():
                payload[f"images/{name}"] = wandb.Image(fig)
                plt.close(fig)
            self.run.log(payload, step=int(tables["metrics"]["epoch"].max()) if "metrics" in tables else None)

        self._guard("images and tables", upload)

    def finish(self, failed: bool) -> None:
        self._guard("finish", lambda: self.run.finish(exit_code=1 if failed else 0))


#: seconds W&B online may take to start a run before the run logs offline instead
ONLINE_TIMEOUT_S = 8.0
#: set once W&B online failed in this sweep, so later jobs go offline at once instead of waiting again
UNREACHABLE_FLAG = "wandb_unreachable"


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else ""


def grouping(cfg: Any) -> Dict[str, str]:
    """W&B group and job type of a run: a sweep's folder (or a preset's, or the run's name) and its row."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    experiment, sweep = None, False
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        experiment, sweep = hc.runtime.choices.get("experiment"), hc.mode == RunMode.MULTIRUN
    if sweep or experiment:
        group = sweep_layout.relative_sweep_dir(experiment, cfg.paths.sweep)
    else:
        group = cfg.name
    return {"group": group, "job_type": str(cfg.tags.row or cfg.name)}


def make_tracker(logger_cfg: Any, run_dir: Path, name: str, group: str, job_type: str, tags: List[str],
                 config: Dict[str, Any]) -> Tracker:
    """The tracker the `logger` group asks for. W&B online that does not answer within ONLINE_TIMEOUT_S
    logs offline instead (`wandb sync` uploads it later), and once per sweep; any other W&B error is one
    warning and a plain Tracker."""
    if logger_cfg.name == "none" or logger_cfg.mode == "disabled":
        return Tracker()
    id_file = Path(run_dir) / "wandb_id.txt"
    run_id: Optional[str] = id_file.read_text().strip() if id_file.exists() else None
    mode = logger_cfg.mode
    if mode == "online" and sweep_outcomes.flagged(UNREACHABLE_FLAG):
        log.warning("W&B online was unreachable earlier in this sweep; this run logs offline to %s/wandb "
                    "(upload later with `wandb sync`)", run_dir)
        mode = "offline"
    try:
        import wandb

        run_id = run_id or uuid.uuid4().hex[:12]
        id_file.write_text(run_id)

        def start(mode: str) -> Any:
            return wandb.init(project=logger_cfg.project, entity=logger_cfg.entity, mode=mode,
                              dir=str(run_dir), name=name, group=group, job_type=job_type, tags=tags,
                              config=config, id=run_id,
                              resume="allow", reinit="finish_previous",
                              settings=wandb.Settings(quiet=True, init_timeout=ONLINE_TIMEOUT_S))
        try:
            return WandbTracker(start(mode))
        except Exception as err:
            if mode != "online":
                raise
            sweep_outcomes.flag(UNREACHABLE_FLAG)
            log.warning("W&B online did not answer within %.0f s (%s: %s); this run logs offline to %s/wandb "
                        "(upload later with `wandb sync`)", ONLINE_TIMEOUT_S, type(err).__name__,
                        _first_line(err), run_dir)
            return WandbTracker(start("offline"))
    except Exception as err:
        log.warning("W&B unavailable (%s: %s); continuing with the local run record only",
                    type(err).__name__, _first_line(err))
        return Tracker()
