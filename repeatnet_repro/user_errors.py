"""Errors a user causes, said in one line: what was wrong, which key, what would be valid (exit code 2).

Hydra prints its own composition errors over several lines and exits 1; `report` wraps a Hydra app so
those come here instead (HYDRA_FULL_ERROR makes Hydra re-raise them) and are said like every other
user error. A full disk (or quota, or a read-only file system) is the machine's state, not the user's
config: one line too, naming the path and the space left, but exit code 1. Anything else is a bug and
keeps its traceback."""
from __future__ import annotations

import dataclasses
import difflib
import errno
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Callable, Iterable, List, Optional

from .config import CONF_DIR, top_level_keys
from .data import DatasetMissingError
from .engine.checkpoint import CheckpointError
from .engine.loop import NonFiniteLossError
from .engine.run_record import RunDirBusy
from .registry import ConfigError, unknown_keys

#: raised by our own code for a user's mistake; the message is already the one line to print
USER_ERRORS = (ConfigError, ValueError, DatasetMissingError, CheckpointError, NonFiniteLossError,
               PermissionError, RunDirBusy)

#: file-system failures that are the machine's state, not a bug: said in one line
DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system"}

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def closest(word: str, options: Iterable[str], n: int = 3) -> List[str]:
    options = list(options)
    return difflib.get_close_matches(word, options, n=n, cutoff=0.4) or []


def group_options(group: str) -> List[str]:
    """Every option of a config group folder, nested ones as `sub/name`."""
    root = CONF_DIR / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _hydra_line(err: BaseException) -> Optional[str]:
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.partition("/")
        if (CONF_DIR / group).is_dir():
            options = group_options(group)
            near = closest(name, options, n=len(options))
            rest = [o for o in options if o not in near]
            return (f"{group}={name}: no such option; valid options of {group} (closest first): "
                    f"{', '.join(near + rest)}")
        return f"{err.missing_cfg_file}: no such config under {CONF_DIR}"
    if isinstance(err, OverrideParseException):
        return f"cannot parse the override '{err.override}': {str(err).splitlines()[0]}"
    if isinstance(err, ConfigCompositionException):
        cause = err.__cause__
        if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
            parent, _, leaf = cause.full_key.rpartition(".")
            schema = cause.object_type
            known = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else \
                top_level_keys() if not parent else []
            return str(unknown_keys(parent, [leaf], known)) if known else f"{cause.full_key}: no such key"
        if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
            return f"{cause.full_key}: {str(cause).splitlines()[0]}"
        lines = [line.strip() for line in str(err).splitlines()]
        if len(lines) > 1 and lines[0].endswith("raised while composing config:"):  # a config file's key, no cause
            where = lines[0].split(":")[0]
            key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), None)
            return f"{where}: {lines[1]}" + (f" (key {key})" if key else "")
        return lines[0]
    return None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _free_at(filename: Optional[str]) -> str:
    """", N free there" for the file system holding `filename` (nothing when it cannot be read)."""
    if not filename:
        return ""
    place = Path(filename)
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        return f" ({_size(shutil.disk_usage(place).free)} free there)"
    except OSError:
        return ""


def disk_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_ERRNOS


def exit_code(err: BaseException) -> int:
    """2 for a user's mistake, 1 for a full disk (the machine's state)."""
    return 1 if disk_error(err) else 2


def explain(err: BaseException) -> Optional[str]:
    """The one line for a user-caused error or a full disk, or None for a bug."""
    from hydra.errors import HydraException

    if disk_error(err):
        where = f" writing {err.filename}{_free_at(err.filename)}" if err.filename else ""
        return (f"{DISK_ERRNOS[err.errno]}{where}; every record write is atomic, so the run dir holds its "
                "last complete state — free space and rerun the same command to resume")
    if isinstance(err, HydraException):
        line = _hydra_line(err)
        if line:
            return ANSI.sub("", line)
    if isinstance(err, USER_ERRORS):
        return ANSI.sub("", str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
    return None


def report(app: Callable[[], None]) -> Callable[[], None]:
    """Run a Hydra app so every user-caused error, its own composition errors included, ends as one
    `error: ...` line and exit code 2 (a full disk: exit code 1)."""
    def main() -> None:
        asked = os.environ.get("HYDRA_FULL_ERROR")  # "1": the user wants tracebacks, not our lines
        os.environ["HYDRA_FULL_ERROR"] = "1"
        try:
            app()
        except Exception as err:  # noqa: BLE001 -- said in one line when the user caused it, else re-raised
            line = None if asked == "1" else explain(err)
            if line is None:
                raise
            print(f"error: {line}", file=sys.stderr)
            sys.exit(exit_code(err))
        finally:
            if asked is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = asked

    main.__doc__ = app.__doc__
    return main
