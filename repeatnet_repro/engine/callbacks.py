"""Hydra callbacks: checks that must happen before Hydra itself touches the output directory."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


def _writable_or_exit(path: str, key: str) -> None:
    target = Path(path)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        print(f"error: output directory {target} is not writable ({err.strerror}); choose another with "
              f"{key}=PATH or paths.runs_dir=PATH", file=sys.stderr)
        sys.exit(2)


class CheckOutputDir(Callback):
    """Fail with one line, before any work, when the run or sweep directory cannot be written."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        _writable_or_exit(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        _writable_or_exit(config.hydra.sweep.dir, "hydra.sweep.dir")
