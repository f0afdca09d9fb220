"""A run from a composed config: build everything, train with resume, and keep the run record current."""
from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..analysis.counting import count_model
from ..analysis.post_training import build_analyses
from ..config import run_tags
from ..count import reference_counts
from ..data import build_data
from ..models import build_model
from . import distributed
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loop import Step, evaluate, train_epoch
from .optim import OPTIMIZERS, SCHEDULES
from .run_record import RunRecord, git_commit, run_dir_of, versions
from .tasks import make_task
from .tracking import make_tracker

log = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("trainer.device=cuda but no CUDA device is visible; use trainer.device=auto or cpu")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"trainer.device={name}: valid values are auto, cpu, cuda")
    return torch.device(name)


def planned_epochs(cfg: DictConfig) -> int:
    """The paper's epochs scaled by the budget (at least one)."""
    epochs = max(1, round(cfg.trainer.epochs * cfg.budget.epoch_scale))
    return min(epochs, cfg.budget.max_epochs) if cfg.budget.max_epochs else epochs


class Run:
    """Everything one run needs, built from its config before the first epoch."""

    def __init__(self, cfg: DictConfig, record: RunRecord, ctx: distributed.Context):
        self.cfg, self.record, self.ctx = cfg, record, ctx
        t = cfg.trainer
        if t.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"trainer.precision={t.precision}: valid values are auto, fp32, bf16")
        if cfg.mode not in ("train", "eval"):
            raise ValueError(f"mode={cfg.mode}: valid modes are train, eval")
        self.device = resolve_device(t.device)
        if ctx.active and self.device.type == "cuda":
            self.device = torch.device("cuda", ctx.local_rank)
        on_cuda = self.device.type == "cuda"
        self.epochs = planned_epochs(cfg)
        seed_everything(cfg.seed, t.deterministic)

        self.source = build_data(cfg.dataset)
        self.model = build_model(cfg.model, cfg.sharing, self.source.info).to(self.device)
        self.counts = count_model(self.model, self.source.info)
        self.analyses = build_analyses(cfg.get("analysis"), self.model)
        self.task = make_task(self.source.info.task, self.source.info.num_classes)
        self.optimizer = OPTIMIZERS.build(cfg.optimizer, self.model, self.device, skip=2)
        self.schedule = SCHEDULES.build(cfg.schedule, self.optimizer, self.epochs / cfg.trainer.epochs, skip=2)
        bf16 = t.precision == "bf16" or (t.precision == "auto" and on_cuda)
        channels_last = t.channels_last and on_cuda
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.step = Step(self.device, bf16, channels_last, t.grad_clip)
        self.forward_model = torch.compile(self.model) if (t.compile and on_cuda) else self.model
        if ctx.active:
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                self.forward_model, device_ids=[self.device.index] if on_cuda else None)
        if t.compile and not on_cuda:
            log.info("trainer.compile=true is a no-op on CPU")
        self.sharing = self.model.sharing
        self.curriculum = None

    def loaders(self):
        """Train and test loaders; under torchrun each rank gets its slice of every global batch."""
        t = self.cfg.trainer
        train, test = self.source.loaders(t.batch_size, self.device, self.cfg.seed, t.eval_batch_size)
        if hasattr(train, "schedule"):  # loaders that change over a run (the shortest-path curriculum)
            train.schedule(self.epochs)
            test.schedule(self.epochs)
            self.curriculum = train  # its current phase goes into every epoch's metrics
        if self.ctx.active:
            return distributed.ShardedLoader(train, self.ctx), distributed.ShardedLoader(test, self.ctx)
        return train, test

    def heldout_loaders(self) -> Dict[str, Any]:
        """Extra evaluation sets of the data set (held-out sets of every difficulty), by name."""
        if not hasattr(self.source, "heldout_loaders"):
            return {}
        t = self.cfg.trainer
        loaders = self.source.heldout_loaders(t.eval_batch_size or t.batch_size, self.device, self.cfg.seed)
        return {f"heldout{name}": loader for name, loader in loaders.items()}

    def run_analyses(self, test_loader, epoch: int) -> Dict[str, Any]:
        """Every selected analysis on the current weights, merged into the record's `analysis`.

        Under torchrun every rank runs them (evaluation sums over the ranks' slices), only the writer saves.
        One that crashes is recorded in `analysis_errors`, not fatal, and never replaces an earlier result
        (the checkpoint is saved: rerun it with mode=eval)."""
        def evaluate_model(model: torch.nn.Module) -> Dict[str, float]:
            return evaluate(model, test_loader, self.task, self.step, self.cfg.budget.max_eval_batches)

        results, errors = dict(self.record.summary().get("analysis", {})), {}
        out_dir = self.record.artifacts / "analysis" if self.record.writer else None
        for name, analysis in self.analyses.items():
            log.info("analysis %s", name)
            try:
                results[name] = analysis(evaluate_model, out_dir, epoch)
            except Exception as err:  # noqa: BLE001 -- recorded in the summary, the run's weights are safe
                log.exception("analysis %s failed", name)
                errors[name] = f"{type(err).__name__}: {err}"
        return self.record.update_summary(analysis=results, analysis_errors=errors)

    def reference(self) -> Dict[str, Any]:
        """`reference` counts and compression C when the run's row names a reference model (cfg.reference)."""
        if not self.cfg.reference:
            return {}
        if not HydraConfig.initialized():
            log.warning("reference=%s is only counted under the entrypoint (it needs the run's overrides)",
                        list(self.cfg.reference))
            return {}
        ref = reference_counts(list(HydraConfig.get().overrides.task), list(self.cfg.reference))
        return {"reference": ref, "compression": ref["params_conv"] / self.counts["params_conv"]}

    # ---- checkpoint state ------------------------------------------------------------------
    def state(self, epoch: int, best: Dict[str, Any]) -> Dict[str, Any]:
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "schedule": self.schedule.state_dict(), "best": best,
                 "rng_cpu": torch.get_rng_state(), "seed": self.cfg.seed}
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self, state: Dict[str, Any], path: Path) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this config's model/optimiser "
                                  f"({str(err).splitlines()[0][:200]}); resume with the config it was "
                                  "written by, or start a fresh run dir") from None
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])

    # ---- the record ------------------------------------------------------------------------
    def base_summary(self) -> Dict[str, Any]:
        cfg = self.cfg
        return {
            "status": "running", "mode": cfg.mode, "name": cfg.name, "tags": run_tags(cfg),
            "model": cfg.model.name, "sharing": cfg.sharing.name, "dataset": cfg.dataset.name,
            "seed": cfg.seed, "budget": {**OmegaConf.to_container(cfg.budget), "epochs": self.epochs},
            **{k: self.counts[k] for k in ("params", "params_conv", "macs", "flops")},
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "versions": versions(), "git_commit": git_commit(Path(cfg.paths.root)),
            "run_dir": str(self.record.dir),
        }


def keep_best(best: Dict[str, Any], row: Dict[str, Any]) -> Dict[str, Any]:
    key = "test_f1" if "test_f1" in row else "test_acc"
    if key in row and (not best or row[key] > best.get(key, float("-inf"))):
        return {k: v for k, v in row.items() if k.startswith("test_") or k == "epoch"}
    return best


def train(cfg: DictConfig, run_dir: Path) -> Dict[str, Any]:
    """Train (resuming when the run dir or trainer.resume holds a checkpoint); returns the summary.

    Under torchrun every rank trains; only rank 0 writes the run record, checkpoints and W&B.
    """
    ctx = distributed.setup(resolve_device(cfg.trainer.device).type)
    record = RunRecord(run_dir, writer=ctx.is_main)
    record.prepare()
    run = Run(cfg, record, ctx)
    record.write_config(cfg)
    resume: Optional[Path] = Path(cfg.trainer.resume) if cfg.trainer.resume else (
        record.checkpoint if record.checkpoint.exists() else None)
    start, best = 1, {}
    if resume is not None:
        state = load_checkpoint(resume)
        run.restore(state, resume)
        start, best = state["epoch"] + 1, state["best"]
        record.keep_metrics_through(state["epoch"])
        log.info("resuming from %s at epoch %d", resume, start)
    started = time.time()
    elapsed = record.summary().get("wall_time_s", 0.0) if resume else 0.0
    record.update_summary(**run.base_summary(), **run.reference(), started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tags = [f"{k}:{v}" for k, v in run_tags(cfg).items() if v]
    logger_cfg = cfg.logger if ctx.is_main else OmegaConf.create({"name": "none", "mode": "disabled"})
    tracker = make_tracker(logger_cfg, run_dir, name=f"{cfg.name}-seed{cfg.seed}",
                           group=cfg.name if not cfg.tags.item else f"{cfg.tags.paper}/{cfg.tags.item}",
                           tags=tags, config=OmegaConf.to_container(cfg, resolve=True))
    failed = True
    try:
        train_loader, test_loader = run.loaders()
        heldout = run.heldout_loaders()
        for epoch in range(start, run.epochs + 1):
            epoch_started = time.time()
            train_loader.set_epoch(epoch)
            test_loader.set_epoch(epoch)
            lr = run.optimizer.param_groups[0]["lr"]
            tr = train_epoch(run.forward_model, train_loader, run.task, run.optimizer, run.step,
                             run.sharing.regularization, f"epoch {epoch}/{run.epochs}", cfg.trainer.progress and ctx.is_main,
                             cfg.budget.max_train_batches)
            te = evaluate(run.forward_model, test_loader, run.task, run.step, cfg.budget.max_eval_batches)
            row = {"epoch": epoch, "lr": lr, **{f"train_{k}": v for k, v in tr.items()},
                   **{f"test_{k}": v for k, v in te.items()}}
            if run.curriculum is not None:
                row["train_phase"] = run.curriculum.phase
            for name, loader in heldout.items():
                row.update({f"{name}_{k}": v for k, v in evaluate(
                    run.forward_model, loader, run.task, run.step, cfg.budget.max_eval_batches).items()})
            row["seconds"] = time.time() - epoch_started
            run.schedule.step(te.get("f1", te["acc"]))
            best = keep_best(best, row)
            record.append_metrics(row)
            if ctx.is_main:
                run.sharing.on_epoch_end(epoch, record.artifacts, last=epoch == run.epochs)
            if ctx.is_main and (epoch % cfg.trainer.checkpoint_every == 0 or epoch == run.epochs):
                save_checkpoint(record.checkpoint, run.state(epoch, best))
            tracker.log_epoch(row)
            if ctx.is_main:
                log.info("epoch %d/%d  train loss %.4f acc %.2f  test loss %.4f acc %.2f  (%.0f img/s)",
                         epoch, run.epochs, tr["loss"], tr["acc"], te["loss"], te["acc"], tr["images_per_s"])
        final = record.metrics()[-1] if record.metrics() else {}
        if run.analyses:
            run.run_analyses(test_loader, run.epochs)
        summary = record.update_summary(
            status="completed", final=final, best=best, epochs_done=run.epochs,
            wall_time_s=elapsed + time.time() - started, groups=run.counts.get("groups", {}),
            finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        tracker.log_artifacts(record.artifacts)
        failed = False
        return summary
    except BaseException as err:
        record.update_summary(status="failed", error=f"{type(err).__name__}: {err}",
                              wall_time_s=elapsed + time.time() - started,
                              epochs_done=len(record.metrics()))
        raise
    finally:
        tracker.log_summary(record.summary())
        tracker.finish(failed)
        distributed.teardown()


#: overrides that pick what mode=eval does, not how the evaluated run was built
EVAL_KEYS = ("mode", "checkpoint", "analysis")


def eval_config(cfg: DictConfig) -> DictConfig:
    """The evaluated run's own config (its config.yaml) with this command's analyses and its key overrides
    (e.g. trainer.device=cpu, dataset.root=...). Choosing another group option would evaluate another
    model or data set, so it is refused."""
    if not cfg.checkpoint:
        raise ValueError("mode=eval needs checkpoint=PATH (a run's checkpoints/last.pt, or the run dir)")
    run_dir = run_dir_of(Path(cfg.checkpoint))
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise CheckpointError(f"checkpoint={cfg.checkpoint}: {run_dir} is not a run dir (no config.yaml); "
                              "mode=eval evaluates a run's checkpoints/last.pt inside the run dir it was written in")
    run_cfg = OmegaConf.load(saved)
    run_cfg.mode, run_cfg.checkpoint = "eval", cfg.checkpoint
    OmegaConf.update(run_cfg, "analysis", cfg.get("analysis") or {}, merge=False, force_add=True)
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        if key.split(".")[0].split("@")[0] in EVAL_KEYS:
            continue
        if "." not in key:
            raise CheckpointError(f"mode=eval: '{override}' would change the evaluated run's {key}; the run is "
                                  f"rebuilt from {saved} — override single keys (e.g. trainer.device=cpu, "
                                  "dataset.root=PATH) or train a new run")
        OmegaConf.update(run_cfg, key, OmegaConf.select(cfg, key), merge=False, force_add=True)
    return run_cfg


def evaluate_checkpoint(cfg: DictConfig) -> Dict[str, Any]:
    """mode=eval: re-test a run's checkpoint and run the selected analyses, into that run's own record
    (summary `eval` and `analysis`, artifacts/analysis/); the run is rebuilt from its config.yaml."""
    cfg = eval_config(cfg)
    path = Path(cfg.checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    record = RunRecord(run_dir_of(path))
    run = Run(cfg, record, distributed.Context())
    run.restore(state, path)
    _, test_loader = run.loaders()
    metrics = evaluate(run.forward_model, test_loader, run.task, run.step, cfg.budget.max_eval_batches)
    record.update_summary(eval={**{f"test_{k}": v for k, v in metrics.items()}, "checkpoint": str(path),
                                "epoch": state["epoch"], "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return run.run_analyses(test_loader, state["epoch"])
