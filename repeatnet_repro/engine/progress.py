"""Progress of the long steps (epochs, evaluation, data generation and decoding, post-training analyses).

On a terminal a tqdm bar on stderr; when stderr is not one (a job's log file), a log line every LOG_EVERY_S
seconds instead of a bar redrawn thousands of times, and none for a step shorter than that; nothing at all
after `enable(False)` (trainer.progress=false; under torchrun every rank but 0).
"""
from __future__ import annotations

import io
import logging
import sys
from typing import Iterable, Optional

from tqdm.auto import tqdm

log = logging.getLogger("repeatnet_repro")

#: seconds between two log lines of one step when stderr is not a terminal
LOG_EVERY_S = 30.0

_enabled = True


def enable(on: bool) -> None:
    """Show progress (the default) or not, for every step that follows in this process."""
    global _enabled
    _enabled = on


def duration(seconds: float) -> str:
    """H:MM:SS, with the days in front past 24 hours (a paper-budget run's ETA is days, not 24 h wrapped)."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return (f"{days}d " if days else "") + f"{hours}:{minutes:02d}:{secs:02d}"


class _LogLines(io.StringIO):
    """tqdm's output as log lines: its carriage returns and padding dropped, a repeated line once."""

    def __init__(self) -> None:
        super().__init__()
        self.last = ""

    def write(self, text: str) -> int:
        line = text.strip("\r\n\t ")
        if line and line != self.last:
            log.info(line)
            self.last = line
        return len(text)


def bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str, unit: str = "batch",
        enabled: bool = True) -> tqdm:
    """A tqdm over `iterable` (or updated by hand up to `total`): a bar, log lines or nothing, as above."""
    if not (enabled and _enabled):
        return tqdm(iterable, total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=_LogLines(), mininterval=LOG_EVERY_S,
                delay=LOG_EVERY_S, ascii=True, ncols=100)
