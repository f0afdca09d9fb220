"""The run record: the contract between training and reporting (ARCHITECTURE.md, "The run record").

<run dir>/config.yaml, metrics.jsonl (one object per epoch), summary.json (status running ->
completed | failed | interrupted, with one entry per attempt under `attempts`), checkpoints/last.pt,
artifacts/. Every write is atomic. One process writes a run dir at a time: it holds `.lock` (an flock,
released by the kernel however the process ends) and refreshes `heartbeat` in the summary while it runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from omegaconf import DictConfig, OmegaConf

from .atomic import dumps, remove_stale_temps, write_json, write_text

#: seconds between heartbeats of a running writer; a reader takes a run with an older one for dead
HEARTBEAT_S = 30.0


class RunDirBusy(RuntimeError):
    """Another process is writing this run dir."""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def versions() -> Dict[str, str]:
    import torch

    from .. import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": importlib.metadata.version("torchvision"), "repeatnet_repro": __version__}


def git_commit(repo: Path) -> Optional[str]:
    """HEAD, `+dirty` when a tracked file outside results/ differs from it: results/ holds what runs and
    benchmarks write (records, tables, figures), never code a run executes, so writing them dirties nothing."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_dir_of(checkpoint: Path) -> Path:
    """The run dir a checkpoint belongs to: `<run>/checkpoints/last.pt` -> `<run>` (a dir is taken as is)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        return checkpoint
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _parse_time(stamp: Optional[str]) -> Optional[float]:
    try:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) if stamp else None
    except ValueError:
        return None


def _lock_held(lock: Path) -> Optional[bool]:
    """Whether a writer holds `lock` (None: the lock cannot be read here)."""
    try:
        with open(lock) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except OSError:
        return None


def live_status(summary: Dict[str, Any], run_dir: Optional[Path] = None) -> Optional[str]:
    """The status a reader should show. `running` holds only while the writer lives: on its own host
    its lock is held; elsewhere (a copied or network dir) its heartbeat is fresh. A run whose writer
    died (kill -9, a lost node) is `interrupted`."""
    status = summary.get("status")
    if status != "running":
        return status
    if run_dir is not None and summary.get("host") == socket.gethostname():
        held = _lock_held(Path(run_dir) / ".lock")
        if held is not None:
            return "running" if held else "interrupted"
    beat = _parse_time(summary.get("heartbeat"))
    return "running" if beat is not None and time.time() - beat < 3 * HEARTBEAT_S else "interrupted"


def protocol_changed(attempts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The summary's mark of a run resumed under a changed protocol (trainer.allow_protocol_change): the first
    epoch trained under it and every key changed, key -> [what the run did, what it does since]."""
    forced = [a for a in attempts if a.get("protocol_changed")]
    if not forced:
        return {}
    return {"protocol_changed": {"epoch": forced[0]["epochs"][0],
                                 "keys": {k: v for a in forced for k, v in a["protocol_changed"].items()}}}


class RunRecord:
    """Reads and writes one run directory (a non-writer, e.g. a data-parallel rank > 0, only reads)."""

    def __init__(self, run_dir: Path, writer: bool = True):
        self.dir, self.writer = Path(run_dir), writer
        self.checkpoint = self.dir / "checkpoints" / "last.pt"
        self.best_checkpoint = self.dir / "checkpoints" / "best.pt"
        self.artifacts = self.dir / "artifacts"
        self.metrics_path = self.dir / "metrics.jsonl"
        self.summary_path = self.dir / "summary.json"
        self.config_path = self.dir / "config.yaml"
        self.lock_path = self.dir / ".lock"
        self._summary_lock = threading.Lock()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the run dir's writer lock (a second writer fails with one line naming the holder); on
        entry remove the temp files a killed writer left. Non-writers take no lock."""
        if not self.writer:
            yield
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise RunDirBusy(f"run dir {self.dir} is being written by {holder}; wait for it to end, or "
                                 "give this run another hydra.run.dir") from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} on host {socket.gethostname()} since {now()}\n")
            f.flush()
            remove_stale_temps(self.dir)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Refresh summary `heartbeat` every HEARTBEAT_S seconds from a thread while the body runs."""
        stop, every = threading.Event(), HEARTBEAT_S

        def beat() -> None:
            while not stop.wait(every):
                with contextlib.suppress(OSError):
                    self.update_summary(heartbeat=now())

        thread = threading.Thread(target=beat, name="run-record-heartbeat", daemon=True)
        if self.writer:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()

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
            write_text(self.config_path, OmegaConf.to_yaml(cfg, resolve=True))

    def config(self) -> Optional[Dict[str, Any]]:
        """The config the run was last trained with (plain YAML: loading it runs no code)."""
        if not self.config_path.is_file():
            return None
        return OmegaConf.to_container(OmegaConf.load(self.config_path), resolve=False)

    def metrics(self) -> List[Dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def keep_metrics_through(self, epoch: int) -> None:
        """On resume: drop lines of epochs after the checkpoint, so no epoch appears twice."""
        kept = [m for m in self.metrics() if m["epoch"] <= epoch]
        if self.writer and len(kept) != len(self.metrics()):
            write_text(self.metrics_path, "".join(dumps(m) + "\n" for m in kept))

    def append_metrics(self, row: Dict[str, Any]) -> None:
        """Add one epoch's row (strict JSON: a non-finite value is null)."""
        if not self.writer:
            return
        lines = [dumps(m) + "\n" for m in self.metrics() if m["epoch"] != row["epoch"]]
        write_text(self.metrics_path, "".join(lines) + dumps(row) + "\n")

    def summary(self) -> Dict[str, Any]:
        return json.loads(self.summary_path.read_text()) if self.summary_path.exists() else {}

    def update_summary(self, **fields: Any) -> Dict[str, Any]:
        with self._summary_lock:  # the heartbeat thread writes too
            summary = {**self.summary(), **fields, "updated": now()}
            if self.writer:
                write_json(self.summary_path, summary)
            return summary

    def begin_attempt(self, **fields: Any) -> Dict[str, Any]:
        """Open a new attempt (status running, this pid/host, a heartbeat); an earlier attempt that never
        ended (its process was killed) is closed as interrupted at its last heartbeat."""
        with self._summary_lock:
            summary = self.summary()
        attempts = list(summary.get("attempts", []))
        if not attempts and "wall_time_s" in summary:  # a record written before attempts were kept
            attempts = [{"started": summary.get("started"), "status": summary.get("status"),
                         "seconds": summary["wall_time_s"]}]
        for i, attempt in enumerate(attempts):
            if "ended" not in attempt:
                last_seen = summary.get("heartbeat") or summary.get("updated")
                seen_at = _parse_time(last_seen) or attempt["started_at"]
                closed = {k: v for k, v in attempt.items() if k != "started_at"}
                attempts[i] = {**closed, "ended": last_seen, "status": "interrupted",
                               "seconds": round(max(0.0, seen_at - attempt["started_at"]), 3)}
        host, pid = socket.gethostname(), os.getpid()
        attempts.append({"started": now(), "started_at": time.time(), "pid": pid, "host": host, **fields})
        return self.update_summary(status="running", attempts=attempts, pid=pid, host=host, heartbeat=now(),
                                   started=summary.get("started") or now(), **protocol_changed(attempts))

    def end_attempt(self, status: str, **fields: Any) -> Dict[str, Any]:
        """Close the current (last) attempt with `status` and its seconds; `wall_time_s` sums them all."""
        with self._summary_lock:
            summary = self.summary()
        attempts = list(summary.get("attempts", []))
        if attempts and "ended" not in attempts[-1]:
            last = dict(attempts[-1])
            last.update(ended=now(), status=status,
                        seconds=round(time.time() - last.pop("started_at"), 3))
            attempts[-1] = last
        total = sum(a.get("seconds", 0.0) for a in attempts)
        return self.update_summary(status=status, attempts=attempts, wall_time_s=total, **fields)
