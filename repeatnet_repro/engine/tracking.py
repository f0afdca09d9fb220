"""Experiment tracking in Weights & Biases, degrading to the local run record on any W&B failure."""
from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

log = logging.getLogger(__name__)


class Tracker:
    """No tracking: the local run record is all there is."""

    def log_epoch(self, row: Dict[str, Any]) -> None:
        pass

    def log_summary(self, summary: Dict[str, Any]) -> None:
        pass

    def log_artifacts(self, folder: Path) -> None:
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

    def finish(self, failed: bool) -> None:
        self._guard("finish", lambda: self.run.finish(exit_code=1 if failed else 0))


def make_tracker(logger_cfg: Any, run_dir: Path, name: str, group: str, tags: List[str],
                 config: Dict[str, Any]) -> Tracker:
    """The tracker the `logger` group asks for; on any W&B error one warning and a plain Tracker."""
    if logger_cfg.name == "none" or logger_cfg.mode == "disabled":
        return Tracker()
    if logger_cfg.mode not in ("offline", "online"):
        raise ValueError(f"logger.mode={logger_cfg.mode}: valid modes are offline, online, disabled")
    id_file = Path(run_dir) / "wandb_id.txt"
    run_id: Optional[str] = id_file.read_text().strip() if id_file.exists() else None
    try:
        import wandb

        run_id = run_id or uuid.uuid4().hex[:12]
        id_file.write_text(run_id)
        run = wandb.init(project=logger_cfg.project, entity=logger_cfg.entity, mode=logger_cfg.mode,
                         dir=str(run_dir), name=name, group=group, tags=tags, config=config, id=run_id,
                         resume="allow", reinit="finish_previous",
                         settings=wandb.Settings(quiet=True, init_timeout=60))
        return WandbTracker(run)
    except Exception as err:
        log.warning("W&B unavailable (%s: %s); continuing with the local run record only",
                    type(err).__name__, str(err).splitlines()[0] if str(err) else "")
        return Tracker()
