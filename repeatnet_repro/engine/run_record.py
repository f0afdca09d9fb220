"""The run record: the contract between training and reporting (ARCHITECTURE.md, "The run record").

<run dir>/config.yaml, metrics.jsonl (one object per epoch), summary.json (status running ->
completed | failed), checkpoints/last.pt, artifacts/. Every write is atomic.
"""
from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf

from .atomic import write_json, write_text


def versions() -> Dict[str, str]:
    import torch

    from .. import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": importlib.metadata.version("torchvision"), "repeatnet_repro": __version__}


def git_commit(repo: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_dir_of(checkpoint: Path) -> Path:
    """The run dir a checkpoint belongs to: `<run>/checkpoints/last.pt` -> `<run>` (a dir is taken as is)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        return checkpoint
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


class RunRecord:
    """Reads and writes one run directory (a non-writer, e.g. a data-parallel rank > 0, only reads)."""

    def __init__(self, run_dir: Path, writer: bool = True):
        self.dir, self.writer = Path(run_dir), writer
        self.checkpoint = self.dir / "checkpoints" / "last.pt"
        self.artifacts = self.dir / "artifacts"
        self.metrics_path = self.dir / "metrics.jsonl"
        self.summary_path = self.dir / "summary.json"

    def prepare(self) -> None:
        """Create the folders, failing early with one line if the place is not writable."""
        if not self.writer:
            return
        try:
            self.artifacts.mkdir(parents=True, exist_ok=True)
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise PermissionError(f"run directory {self.dir} is not writable ({err.strerror}); "
                                  "choose another with hydra.run.dir=PATH or paths.runs_dir=PATH") from None

    def write_config(self, cfg: DictConfig) -> None:
        if self.writer:
            write_text(self.dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def metrics(self) -> List[Dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def keep_metrics_through(self, epoch: int) -> None:
        """On resume: drop lines of epochs after the checkpoint, so no epoch appears twice."""
        kept = [m for m in self.metrics() if m["epoch"] <= epoch]
        if self.writer:
            write_text(self.metrics_path, "".join(json.dumps(m) + "\n" for m in kept))

    def append_metrics(self, row: Dict[str, Any]) -> None:
        if not self.writer:
            return
        lines = [json.dumps(m) + "\n" for m in self.metrics() if m["epoch"] != row["epoch"]]
        write_text(self.metrics_path, "".join(lines) + json.dumps(row) + "\n")

    def summary(self) -> Dict[str, Any]:
        return json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}

    def update_summary(self, **fields: Any) -> Dict[str, Any]:
        summary = {**self.summary(), **fields, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if self.writer:
            write_json(self.summary_path, summary)
        return summary
