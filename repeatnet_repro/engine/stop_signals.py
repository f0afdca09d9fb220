"""Signals that stop a run at a safe point, so its record says `interrupted` and a rerun resumes it.

SIGTERM is what a scheduler sends to stop a job (`scancel`, `scontrol requeue`, a preemption) and what torchrun
sends its ranks. Under submitit (a SLURM sweep) the job also gets submitit's signal (USR2) ahead of its time
limit: submitit's own handlers would exit or raise wherever the run happens to be, so the run stops first,
closes its record, and only then hands the signal to submitit, which requeues the job (or, when its retries
for time limits are spent, ends it).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Callable, Dict, Iterator, Optional

Handler = Callable[[int, Any], Any]


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived: the run ends as `interrupted`, resumable."""

    def __init__(self, signum: int, hand_off: Optional[Handler] = None):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.hand_off = signum, hand_off

    def pass_on(self) -> bool:
        """Let the handler the signal had before the run (submitit's) act, now that the record is closed: it
        requeues the job and exits. True when it did not (submitit: out of time-limit retries; its log says so),
        so this job is over."""
        if self.hand_off is None:
            return False
        with contextlib.suppress(Exception):
            self.hand_off(self.signum, None)
        return True


def _submitit_handler(handler: Any) -> bool:
    """Whether `handler` is one submitit installed for this job (its SignalHandler's methods)."""
    owner = getattr(handler, "__self__", None)
    return type(owner).__module__.startswith("submitit.")


def _submitit_signal() -> Optional[int]:
    """The signal submitit requeues on, inside a submitit job."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    import submitit

    return getattr(signal, f"SIG{submitit.JobEnvironment.USR_SIG}", None)


class _Commit:
    """Whether an epoch is being committed, the stop signal that arrived meanwhile, and whether the run is
    already stopping (a second signal, e.g. SLURM's SIGTERM relayed by srun, must not cut its last writes)."""
    open = False
    stopping = False
    pending: Optional[int] = None
    hand_off: Dict[int, Optional[Handler]] = {}


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM (and submitit's signal) into `Interrupted` while training. SIGTERM is taken only when
    nobody else handles it but submitit, whose handler merely logs it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken: Dict[int, Any] = {}
    term = signal.getsignal(signal.SIGTERM)
    if term is signal.SIG_DFL or _submitit_handler(term):
        taken[signal.SIGTERM] = term
    usr = _submitit_signal()
    if usr is not None and _submitit_handler(signal.getsignal(usr)):
        taken[usr] = signal.getsignal(usr)
    _Commit.pending, _Commit.stopping = None, False
    _Commit.hand_off = {s: (h if s == usr else None) for s, h in taken.items()}

    def stop(signum: int, frame: Any) -> None:
        if _Commit.stopping:
            return
        if _Commit.open:
            _Commit.pending = _Commit.pending or signum
        else:
            _Commit.stopping = True
            raise Interrupted(signum, _Commit.hand_off.get(signum))

    for signum in taken:
        signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, previous in taken.items():
            signal.signal(signum, previous)


@contextlib.contextmanager
def epoch_commit() -> Iterator[None]:
    """An epoch's metrics row, artifacts and checkpoints land together: a stop signal meanwhile waits for the
    end, so a resumed run never repeats an epoch the record already holds."""
    _Commit.open = True
    try:
        yield
    finally:
        _Commit.open = False
    if _Commit.pending is not None:
        signum, _Commit.pending, _Commit.stopping = _Commit.pending, None, True
        raise Interrupted(signum, _Commit.hand_off.get(signum))
