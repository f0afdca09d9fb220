"""The typed config: schemas of every group, registered once in Hydra's ConfigStore.

Groups that pick code (model, dataset, sharing, optimizer, schedule, logger) derive their schemas from
their builders' signatures (registry.py). The fixed groups (trainer, budget, paths) are dataclasses.
`compose(overrides)` gives the same config `python -m repeatnet_repro.train` would see, without
running anything (the count CLI and the tests use it).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclasses.dataclass
class TrainerConfig:
    """How to train: the protocol parts that are not optimiser or schedule."""

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: Optional[int] = None
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    channels_last: bool = True  # CUDA only
    compile: bool = False  # torch.compile; CUDA only
    grad_clip: Optional[float] = None  # max gradient norm
    deterministic: bool = False
    progress: bool = True
    resume: Optional[str] = None  # a checkpoint path; a run dir holding checkpoints/last.pt resumes by itself
    checkpoint_every: int = 1


@dataclasses.dataclass
class BudgetConfig:
    """A fraction of the paper's protocol: epochs and every schedule milestone scale together."""

    name: str = "paper"
    epoch_scale: float = 1.0
    max_epochs: Optional[int] = None
    max_train_batches: Optional[int] = None  # per epoch; smoke runs cut epochs short
    max_eval_batches: Optional[int] = None


@dataclasses.dataclass
class PathsConfig:
    root: str = str(CONF_DIR.parent)
    data_dir: str = "${oc.env:REPEATNET_DATA,${paths.root}/data}"
    runs_dir: str = "${paths.root}/results/runs"


@dataclasses.dataclass
class LoggerConfig:
    """W&B (offline unless mode=online) or none; a W&B failure never stops a run."""

    name: str = "wandb"
    project: str = "repeatnet_repro"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled


@dataclasses.dataclass
class TagsConfig:
    """Where a run's numbers go in the report: paper / item (table or figure) / row."""

    paper: Optional[str] = None
    item: Optional[str] = None
    row: Optional[str] = None


_REGISTERED = False


def register_schemas() -> None:
    """Store every group's schema in the ConfigStore (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from .analysis.post_training import ANALYSES
    from .data import DATASETS
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
    OmegaConf.register_new_resolver("log_dir", log_dir, replace=True)
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
