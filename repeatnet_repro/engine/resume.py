"""What may change when a run dir is trained again, and the check that refuses everything else.

A run dir holds one run. Training it again continues that run, so every key that decides what the run
computes must be what its checkpoint was trained with; only the keys in MAY_CHANGE, which say where and how
long it runs, may differ. A key the code gained after the run began is missing from the run's config: it is
accepted only at the value GAINED declares for it, the one that does what the code did before the key
existed. Any other value, or a gained key GAINED does not declare, would change the protocol mid-run: it is
refused unless `trainer.allow_protocol_change=true`, and then the attempt lists the keys and the summary's
`protocol_changed` names the first epoch trained under the new protocol (the report marks the run). The run
record lists each allowed change under its attempt."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..config import CODE_GROUPS
from ..registry import ConfigError

#: keys (or whole groups) that may differ on resume; every other difference is refused
MAY_CHANGE: Tuple[str, ...] = (
    "trainer.epochs", "budget.max_epochs",  # extending a run (never below the epochs it has done)
    "trainer.device", "trainer.progress", "trainer.compile", "trainer.checkpoint_every",
    "trainer.eval_batch_size", "trainer.init_from",  # init_from only seeded the first epoch
    "trainer.allow_protocol_change",  # the switch that lets a gained key change the protocol
    "dataset.root", "dataset.mnist_root", "dataset.download", "dataset.workers",  # where the same data is
    "logger", "paths", "analysis", "mode", "checkpoint",
    "protocol",  # a preset's per-data-set table: the keys that read it by interpolation are checked
)

#: every key the code gained after runs began -> the value that does what the code did before the key existed
#: (from `git log -p` of the builders' signatures and of config.py's groups; the commit that added it is named).
#: A code group's key belongs to one option: `<group>[<option>].<key>`. A key added with a new option (a new
#: data set, model or scheme) is not gained: no run of that option began without it.
GAINED: Dict[str, Any] = {
    "trainer.select_on": "test",  # d3cc3ab: the best epoch was the best test accuracy's
    "trainer.drop_last": None,  # 8f4c511: null is each data set's own habit, what every loader did
    "budget.max_batch_size": None, "budget.max_analysis_points": None,  # 4603efc: no cap
    "budget.max_batch_gmacs": None,  # bab7114: no cap
    "match.params": None, "match.params_conv": None, "match.macs": None,  # 4603efc: no matched budget,
    "match.tolerance": 0.05, "match.knob": None,  # so neither of these was read
    "model[convnet].width_mult": 1,  # ae79e5e: RepeatNet width scaling, m = 1 is the configured net
    **{f"model[{m}].width_mult": 1 for m in ("cnn_rotmnist", "pathfinder", "resnet_cifar", "resnet_imagenet",
                                             "vgg", "vggnet", "wrn", "wrn_imagenet")},  # 4603efc
    "model[vgg].width": 64, "model[wrn].width": 16, "model[wrn_imagenet].width": 64,  # 4603efc: the fixed widths
    "model[recnn].pool_kernel": 2,  # 33255ed: the 2x2 max-pools
    "model[recnn].fields": None,  # 4603efc: the fields from channel_scale
    # dd9546c: BN scale 1 (the linear 1x1s' Glorot init came with it, keyless; an init acts before epoch 1 only)
    "model[resnet_cifar].zero_init_residual": False, "model[resnet_imagenet].zero_init_residual": False,
    # 4603efc: false only refuses a model whose groups all hold one layer; a model it builds trains as before
    "sharing[hard].allow_singletons": False, "sharing[soft].allow_singletons": False,
    "sharing[repeat].parent_depth": None,  # 4603efc: no depth scaling
    "dataset[shortest_paths].curriculum": False,  # ee27042: one phase
    "dataset[imagenet].color_jitter": 0.0, "dataset[imagenet].lighting": 0.0,  # ec206ff: no colour augmentation
    # ec206ff: a rotation at 29 px, no flips, pixels normalised by their mean and std
    "dataset[rotmnist].upsample": 1, "dataset[rotmnist].vflip": False, "dataset[rotmnist].flip": False,
    "dataset[rotmnist].normalize": True,
    # 8f4c511: no cutout, no colour augmentation, one centre crop
    "dataset[synthetic].cutout": 0, "dataset[synthetic].color_jitter": 0.0, "dataset[synthetic].lighting": 0.0,
    "dataset[synthetic].eval_crops": 1,
}

ABSENT = "<absent>"
UNDECLARED = "<undeclared>"
FORCE = "trainer.allow_protocol_change"


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


def gained_name(key: str, config: Dict[str, Any]) -> str:
    """The name GAINED declares `key` under: a code group's key qualified by the option `config` chose."""
    group, _, rest = key.partition(".")
    if group in CODE_GROUPS and rest:
        return f"{group}[{(config.get(group) or {}).get('name')}].{rest}"
    return key


def before(key: str, config: Dict[str, Any]) -> Any:
    """What the code did before it gained `key` (UNDECLARED when GAINED does not say)."""
    return GAINED.get(gained_name(key, config), UNDECLARED)


def protocol_changes(changed: Dict[str, List[Any]], new: Dict[str, Any]) -> Dict[str, List[Any]]:
    """Among a resume's differences, the gained keys whose value is not what the run did: key -> [before, now]."""
    return {k: [before(k, new), now] for k, (old, now) in changed.items()
            if old == ABSENT and not may_change(k) and before(k, new) != now}


def _override(value: Any) -> str:
    """A value as a command-line override writes it."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value).replace(" ", "")


def check_resume(run_dir: Any, old: Dict[str, Any], new: Dict[str, Any], epochs_done: int,
                 epochs_planned: int) -> Dict[str, List[Any]]:
    """The allowed differences (for the record). A difference outside MAY_CHANGE, a gained key that changes
    the protocol (unless forced), or fewer planned epochs than done raises ResumeMismatch in one line."""
    diff = differences(old, new)
    protocol = protocol_changes(diff, new)
    refused = {k: v for k, v in diff.items() if not may_change(k) and v[0] != ABSENT}
    if refused:
        listed = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in list(refused.items())[:8])
        more = f" (and {len(refused) - 8} more)" if len(refused) > 8 else ""
        raise ResumeMismatch(f"run dir {run_dir} was trained with another config ({listed}{more}); a run dir "
                             "resumes only with the config it was started with (what may change: "
                             f"{', '.join(MAY_CHANGE)}); give a new run another hydra.run.dir")
    if protocol and not flatten(new).get(FORCE):
        did = {k: "undeclared (engine/resume.py GAINED)" if b == UNDECLARED else _override(b)
               for k, (b, _) in protocol.items()}
        listed = ", ".join(f"{k}: did {did[k]} -> now {_override(n)}" for k, (_, n) in protocol.items())
        same = " ".join(f"{k}={_override(b)}" for k, (b, _) in protocol.items() if b != UNDECLARED)
        raise ResumeMismatch(f"run dir {run_dir} began before the code gained keys that change what it does "
                             f"({listed}); resume it as it ran{f' with {same}' if same else ''}, or add "
                             f"{FORCE}=true to go on under the new protocol (the record and the report then mark "
                             f"the run 'protocol changed at epoch {epochs_done + 1}'), or give a new run another "
                             "hydra.run.dir")
    if epochs_planned < epochs_done:
        raise ResumeMismatch(f"run dir {run_dir} has done {epochs_done} epochs and this config plans "
                             f"{epochs_planned}; a run cannot be shortened — give trainer.epochs >= "
                             f"{epochs_done}, or train a new run in another hydra.run.dir")
    return diff
