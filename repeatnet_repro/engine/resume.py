"""What may change when a run dir is trained again, and the check that refuses everything else.

A run dir holds one run. Training it again continues that run, so every key that decides what the run
computes must be what its checkpoint was trained with; only the keys below, which say where and how long
it runs, may differ, and keys the code gained after the run began, at their defaults. The run record lists
each allowed change under its attempt."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from ..registry import ConfigError

#: keys (or whole groups) that may differ on resume; every other difference is refused
MAY_CHANGE: Tuple[str, ...] = (
    "trainer.epochs", "budget.max_epochs",  # extending a run (never below the epochs it has done)
    "trainer.device", "trainer.progress", "trainer.compile", "trainer.checkpoint_every",
    "trainer.eval_batch_size", "trainer.init_from",  # init_from only seeded the first epoch
    "dataset.root", "dataset.mnist_root", "dataset.download", "dataset.workers",  # where the same data is
    "logger", "paths", "analysis", "mode", "checkpoint",
)

ABSENT = "<absent>"


class ResumeMismatch(ConfigError):
    """The run dir was trained with another config than this command asks for."""


def flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    """Dotted key -> leaf value (lists are leaves)."""
    if not isinstance(tree, dict):
        return {prefix[:-1]: tree}
    out: Dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}{key}.") if isinstance(value, dict) and value else
                   {f"{prefix}{key}": value})
    return out


def may_change(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in MAY_CHANGE)


def differences(old: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, List[Any]]:
    """Dotted key -> [old, new] for every leaf that differs (ABSENT where one side lacks it)."""
    a, b = flatten(old), flatten(new)
    return {k: [a.get(k, ABSENT), b.get(k, ABSENT)] for k in sorted(set(a) | set(b))
            if a.get(k, ABSENT) != b.get(k, ABSENT)}


def added_since(key: str, change: List[Any], overridden: Sequence[str]) -> bool:
    """A key the run's config lacks because the code gained it after the run began: allowed at the value the
    code composes by itself (its default), refused when this command sets it."""
    return change[0] == ABSENT and not any(key == o or key.startswith(o + ".") for o in overridden)


def check_resume(run_dir: Any, old: Dict[str, Any], new: Dict[str, Any], epochs_done: int,
                 epochs_planned: int, overridden: Sequence[str] = ()) -> Dict[str, List[Any]]:
    """The allowed differences (for the record); a refused one, or fewer planned epochs than done,
    raises ResumeMismatch naming every differing key. `overridden`: the keys this command sets."""
    diff = differences(old, new)
    refused = {k: v for k, v in diff.items() if not may_change(k) and not added_since(k, v, overridden)}
    if refused:
        listed = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in list(refused.items())[:8])
        more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
        raise ResumeMismatch(f"run dir {run_dir} was trained with another config ({listed}{more}); a run dir "
                             "resumes only with the config it was started with (what may change: "
                             f"{', '.join(MAY_CHANGE)}); give a new run another hydra.run.dir")
    if epochs_planned < epochs_done:
        raise ResumeMismatch(f"run dir {run_dir} has done {epochs_done} epochs and this config plans "
                             f"{epochs_planned}; a run cannot be shortened — give trainer.epochs >= "
                             f"{epochs_done}, or train a new run in another hydra.run.dir")
    return diff
