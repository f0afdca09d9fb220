"""Atomic file writes: a reader never sees half a run record or half a checkpoint.

A write that fails for lack of space (or quota, or a read-only file system) raises that OSError naming the
target, even from inside a writer that wraps it (torch's zip writer raises "unexpected pos" while handling it).
Files get the permissions the umask gives (not mkstemp's 0600), so a shared results dir stays readable,
and JSON is strict: a non-finite float is written as null (JSON has no NaN)."""
from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

TEMP_SUFFIX = ".tmp"
#: the errors that say the file system is full or cannot take writes: the machine's state, not a bug
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask is process-wide and writes happen from two threads


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write through `write(fileobj)` into a temp file beside `path`, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        disk = _disk_error(err)
        if disk is not None:
            raise OSError(disk, os.strerror(disk), str(path)) from None
        raise


def _disk_error(err: BaseException) -> int | None:
    """The errno of a full (or read-only) file system behind `err`, or None."""
    for _ in range(8):  # a short chain: the write's own error and what it was handling
        if err is None:
            break
        if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
            return err.errno
        err = err.__cause__ or err.__context__
    return None


def remove_stale_temps(folder: Path) -> int:
    """Delete temp files that a killed writer left (the caller holds the folder's writer lock)."""
    removed = 0
    for tmp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file() and "wandb" not in tmp.relative_to(folder).parts:
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def finite(obj: Any) -> Any:
    """`obj` with every NaN/inf float replaced by None, so it is valid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(finite(obj), allow_nan=False, default=str, **kwargs)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda f: f.write(dumps(obj, indent=2, sort_keys=True)))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))
