"""The typed config: schemas of every group, registered once in Hydra's ConfigStore.

Groups that pick code (model, dataset, sharing, optimizer, schedule, logger) derive their schemas from
their builders' signatures (registry.py). The fixed groups (trainer, budget, paths) are dataclasses whose
fields declare their valid values in `metadata={"valid": ...}`, as the builders do in `Annotated[...]`.
`validate(cfg)` checks a composed config against both before anything runs. `compose(overrides)` gives
the same config `python -m repeatnet_repro.train` would see, without running anything (the count CLI and
the tests use it).
"""
from __future__ import annotations

import dataclasses
import time
import typing
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from .registry import ConfigError, Constraint, Matches, OneOf, Range, check_value, complete, unknown_keys

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def valid(constraint: Constraint, default: Any) -> Any:
    """A dataclass field whose valid values `validate` checks."""
    return dataclasses.field(default=default, metadata={"valid": constraint})


@dataclasses.dataclass
class TrainerConfig:
    """How to train: the protocol parts that are not optimiser or schedule."""

    epochs: int = valid(Range(ge=1), 10)
    batch_size: int = valid(Range(ge=1), 128)
    eval_batch_size: Optional[int] = valid(Range(ge=1), None)
    device: str = valid(Matches(r"auto|cpu|cuda(:\d+)?", "auto, cpu, cuda or cuda:N"), "auto")
    # auto: bf16 autocast on CUDA and on CPUs with native bf16, fp32 elsewhere (engine/compute.py); the record's
    # `compute` says what a run used
    precision: str = valid(OneOf(("auto", "fp32", "bf16")), "auto")
    channels_last: bool = True  # on every device: faster on CUDA and, in fp32 and bf16, on CPU (engine/compute.py)
    compile: bool = False  # torch.compile (inductor), on any device
    grad_clip: Optional[float] = valid(Range(gt=0), None)  # max gradient norm
    # skip each epoch's last partial training batch (RepeatNet's DataLoader); null: the data set's habit (ImageNet
    # drops it, the others keep it)
    drop_last: Optional[bool] = None
    deterministic: bool = False
    progress: bool = True
    init_from: Optional[str] = None  # another run's checkpoint to fine-tune from (its weights only)
    checkpoint_every: int = valid(Range(ge=1), 1)
    # which split picks the best epoch (best.pt, summary `best`) and drives a plateau schedule; auto: the
    # validation split when the data set holds one out (dataset.val_size > 0), else no best epoch is kept (the
    # test set only drives a plateau schedule); test: pick on test by name (selection=heldout sets val)
    select_on: str = valid(OneOf(("auto", "val", "test")), "auto")
    # resume a run dir even where a key the code gained since the run began changes what it does; the record
    # and the report mark the run "protocol changed at epoch N" (engine/resume.py)
    allow_protocol_change: bool = False


@dataclasses.dataclass
class BudgetConfig:
    """A fraction of the paper's protocol: epochs and every schedule milestone scale together."""

    name: str = "paper"
    epoch_scale: float = valid(Range(gt=0), 1.0)
    max_epochs: Optional[int] = valid(Range(ge=1), None)
    max_train_batches: Optional[int] = valid(Range(ge=1), None)  # per epoch; smoke runs cut epochs short
    max_eval_batches: Optional[int] = valid(Range(ge=1), None)  # of a fixed class-balanced subset (data/subset.py)
    max_batch_size: Optional[int] = valid(Range(ge=1), None)  # caps trainer.batch_size and eval_batch_size
    max_batch_gmacs: Optional[float] = valid(Range(gt=0), None)  # and caps a batch's forward GMACs (>= 2 images)
    max_analysis_points: Optional[int] = valid(Range(ge=2), None)  # e.g. fold thresholds, first and last kept


@dataclasses.dataclass
class PathsConfig:
    root: str = str(CONF_DIR.parent)
    data_dir: str = "${oc.env:REPEATNET_DATA,${paths.root}/data}"
    runs_dir: str = "${paths.root}/results/runs"
    sweep: str = "${budget.name}"  # a sweep's folder under <runs_dir>/<experiment>/ (engine/sweep_layout.py)


@dataclasses.dataclass
class LoggerConfig:
    """W&B (offline unless mode=online) or none; a W&B failure never stops a run."""

    name: str = "wandb"
    project: str = "repeatnet_repro"
    entity: Optional[str] = None
    mode: str = valid(OneOf(("offline", "online", "disabled")), "offline")


@dataclasses.dataclass
class TagsConfig:
    """Where a run's numbers go in the report: paper / item (table or figure) / row."""

    paper: Optional[str] = None
    item: Optional[str] = None
    row: Optional[str] = None


#: the overrides of a matched budget's reference config, as on a command line
OVERRIDES = Matches(r"\s*[^\s=]+=\S*(\s+[^\s=]+=\S*)*\s*",
                    'overrides KEY=VALUE separated by spaces, e.g. "sharing=none"')


@dataclasses.dataclass
class MatchConfig:
    """Matched budgets (analysis/matching.py): the width at which this model's |W| (params), |W_conv|
    (params_conv) or MACs equal those of a reference config, given as its overrides on top of the run's own;
    one measure at a time. knob: the width key searched (null: the one the model builder marks Width())."""

    params: Optional[str] = valid(OVERRIDES, None)
    params_conv: Optional[str] = valid(OVERRIDES, None)
    macs: Optional[str] = valid(OVERRIDES, None)
    tolerance: float = valid(Range(gt=0), 0.05)  # largest accepted |achieved / target - 1|
    knob: Optional[str] = valid(Matches(r"model\.\w+", "a model key, model.<key>"), None)


@dataclasses.dataclass
class RunConfig:
    """The top-level keys of conf/config.yaml (validated, not stored: the groups hang off the same node)."""

    seed: int = valid(Range(ge=0), 0)
    mode: str = valid(OneOf(("train", "eval")), "train")
    checkpoint: Optional[str] = None
    name: str = ""
    reference: Optional[Any] = None  # overrides of a row's reference model (compression C)
    protocol: Optional[Any] = None  # a preset's per-dataset protocol table, read by interpolation


#: config node -> the dataclass that declares its keys and valid values
FIXED_GROUPS = {"trainer": TrainerConfig, "budget": BudgetConfig, "logger": LoggerConfig, "paths": PathsConfig,
                "tags": TagsConfig, "match": MatchConfig}


#: config groups that pick code -> how many leading builder arguments are not config
CODE_GROUPS = {"sharing": 1, "model": 1, "dataset": 0, "optimizer": 2, "schedule": 2}


def _check_fields(node: Any, schema: type, prefix: str) -> None:
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if "valid" in field.metadata and field.name in node:
            check_value(prefix + field.name, node[field.name], complete(field.metadata["valid"], hints[field.name]))
        elif hints[field.name] is int and field.name in node and (
                isinstance(node[field.name], bool) or not isinstance(node[field.name], int)):
            raise ConfigError(f"{prefix}{field.name}={node[field.name]!r} is not valid: it must be an integer")


def _check_known(node: Any, known: Any, where: str) -> None:
    unknown = sorted(set(node) - set(known))
    if unknown:
        raise unknown_keys(where, unknown, sorted(known))


def top_level_keys() -> List[str]:
    """The keys the root config may have: RunConfig's and one per config group."""
    return sorted({f.name for f in dataclasses.fields(RunConfig)} | {*FIXED_GROUPS, *CODE_GROUPS, "analysis"})


def validate(cfg: DictConfig) -> None:
    """Every key of every group against its schema and declared valid values: one ConfigError line
    naming the key, its value and what is valid. Runs before anything is built or written."""
    from .analysis.post_training import ANALYSES
    from .data import DATASETS
    from .engine.optim import OPTIMIZERS, SCHEDULES
    from .models import MODELS
    from .sharing import SCHEMES

    plain = OmegaConf.to_container(cfg, resolve=True)
    _check_known(plain, top_level_keys(), "")
    _check_fields(plain, RunConfig, "")
    for group, schema in FIXED_GROUPS.items():
        _check_known(plain[group], [f.name for f in dataclasses.fields(schema)], group)
        _check_fields(plain[group], schema, f"{group}.")
    registries = {"model": MODELS, "sharing": SCHEMES, "dataset": DATASETS, "optimizer": OPTIMIZERS,
                  "schedule": SCHEDULES}
    for group in CODE_GROUPS:  # sharing before model: a model's width may be interpolated from sharing.k_rep
        registries[group].check(plain[group], CODE_GROUPS[group])
    for name, options in (plain.get("analysis") or {}).items():
        ANALYSES.check(options, 1)
    if plain["mode"] == "train" and plain.get("checkpoint"):
        raise ConfigError(f"checkpoint={plain['checkpoint']} is only read by mode=eval; to train on from "
                          "another run's weights use trainer.init_from=PATH, or add mode=eval to evaluate it")


_REGISTERED = False


def register_schemas() -> None:
    """Store every group's schema in the ConfigStore (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .analysis.post_training import ANALYSES
    from .data import DATASETS
    from .engine import sweep_layout
    from .engine.optim import OPTIMIZERS, SCHEDULES
    from .models import MODELS
    from .sharing import SCHEMES

    cs = ConfigStore.instance()
    MODELS.store_schemas(skip=1)
    SCHEMES.store_schemas(skip=1)
    DATASETS.store_schemas()
    OPTIMIZERS.store_schemas(skip=2)
    SCHEDULES.store_schemas(skip=2)
    ANALYSES.store_schemas(skip=1)
    cs.store(group="schema/trainer", name="default", node=TrainerConfig)
    cs.store(group="schema/budget", name="default", node=BudgetConfig)
    cs.store(group="schema/paths", name="default", node=PathsConfig)
    cs.store(group="schema/logger", name="default", node=LoggerConfig)
    cs.store(group="schema", name="tags", node=TagsConfig)
    cs.store(group="schema", name="match", node=MatchConfig)
    OmegaConf.register_new_resolver("log_dir", log_dir, replace=True)
    sweep_layout.register()
    _REGISTERED = True


def log_dir(mode: str, checkpoint: Optional[str], default: str) -> str:
    """Hydra's output dir (config, log) of a job: an eval of a run's checkpoint logs inside that run's dir."""
    from .engine.run_record import run_dir_of

    if mode == "eval" and checkpoint and (run_dir_of(Path(checkpoint)) / "config.yaml").is_file():
        return str(run_dir_of(Path(checkpoint)) / "eval" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    return default


def compose(overrides: List[str], config_name: str = "config") -> DictConfig:
    """The composed config for these command-line overrides (Hydra's compose API)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    register_schemas()
    if HydraConfig.initialized():  # inside a running app: its config search path is already set up
        return hydra_compose(config_name=config_name, overrides=list(overrides))
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def run_tags(cfg: Any) -> dict:
    return {k: cfg.tags.get(k) for k in ("paper", "item", "row")}
