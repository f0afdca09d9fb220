"""A run from a composed config: build everything, train with resume, and keep the run record current."""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..analysis.counting import count_model, reference_counts
from ..analysis.matching import match_width
from ..analysis.post_training import build_analyses
from ..config import run_tags, validate
from ..data import build_data
from ..models import build_model
from ..registry import ConfigError
from . import distributed, progress
from .checkpoint import CheckpointError, link_checkpoint, load_checkpoint, save_checkpoint
from .compute import resolve_compute
from .loop import NonFiniteLossError, Step, evaluate, train_epoch
from .optim import OPTIMIZERS, SCHEDULES, EpochPlan, scaled_epoch
from .resume import check_resume, protocol_changes
from .run_record import RunRecord, git_commit, now, run_dir_of, versions
from .stop_signals import Interrupted, epoch_commit, sigterm_interrupts  # noqa: F401 -- re-exported
from .tasks import make_task
from .tracking import Tracker, grouping, make_tracker

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
    """auto | cpu | cuda | cuda:N (the config schema checks the spelling)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"trainer.device={name} but no CUDA device is visible; use trainer.device=auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"trainer.device={name}: this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s), cuda:0..cuda:{torch.cuda.device_count() - 1}")
    return device


#: the fewest images a compute-capped batch keeps: BatchNorm needs two values per channel on a 1x1 map
MIN_CAPPED_BATCH = 2


def batch_sizes(cfg: DictConfig, macs_per_image: int) -> Dict[str, int]:
    """Training and evaluation batch sizes: the trainer's, capped by the budget (smoke runs on a CPU) in images
    and in forward GMACs, so a model of 100 GMACs per image smoke-tests in as little time as a small one."""
    t, b = cfg.trainer, cfg.budget
    cap = b.get("max_batch_size") or float("inf")
    if b.get("max_batch_gmacs"):
        cap = min(cap, max(MIN_CAPPED_BATCH, int(b.max_batch_gmacs * 1e9 // max(macs_per_image, 1))))
    return {"train": min(t.batch_size, cap), "eval": min(t.eval_batch_size or t.batch_size, cap)}


def planned_epochs(cfg: DictConfig) -> int:
    """The paper's epochs scaled by the budget (at least one)."""
    epochs = scaled_epoch(cfg.trainer.epochs, cfg.budget.epoch_scale)
    return min(epochs, cfg.budget.max_epochs) if cfg.budget.max_epochs else epochs


class Run:
    """Everything one run needs, built from its config before the first epoch."""

    def __init__(self, cfg: DictConfig, record: RunRecord, ctx: distributed.Context):
        self.cfg, self.record, self.ctx = cfg, record, ctx
        t = cfg.trainer
        self.device = resolve_device(t.device)
        if ctx.active and self.device.type == "cuda":
            self.device = torch.device("cuda", ctx.local_rank)
        on_cuda = self.device.type == "cuda"
        self.epochs = planned_epochs(cfg)
        progress.enable(t.progress and ctx.is_main)
        seed_everything(cfg.seed, t.deterministic)

        self.source = build_data(cfg.dataset)
        self.match = match_width(cfg) if cfg.mode == "train" else {}  # match.*: sets the width before the build
        self.model = build_model(cfg.model, cfg.sharing, self.source.info).to(self.device)
        self.counts = count_model(self.model, self.source.info)
        self.batch_size = batch_sizes(cfg, self.counts["macs"])
        self.analyses = build_analyses(cfg.get("analysis"), self.model, cfg.budget.get("max_analysis_points"))
        self.task = make_task(self.source.info.task, self.source.info.num_classes)
        self.selection = selection_metric(t.select_on, self.source)
        self.best_on = best_metric(t.select_on, self.selection)
        self.optimizer = OPTIMIZERS.build(cfg.optimizer, self.model, self.device, skip=2)
        self.schedule = SCHEDULES.build(cfg.schedule, self.optimizer, EpochPlan(cfg.trainer.epochs, self.epochs),
                                        skip=2)
        self.compute = resolve_compute(self.device, t.precision, t.channels_last, t.compile)
        if self.compute.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.step = Step(self.device, self.compute.bf16, self.compute.channels_last, t.grad_clip)
        self.forward_model = torch.compile(self.model) if self.compute.compile else self.model
        if ctx.active:
            self.forward_model = torch.nn.parallel.DistributedDataParallel(
                self.forward_model, device_ids=[self.device.index] if on_cuda else None)
        self.sharing = self.model.sharing
        self.curriculum = None

    def loaders(self):
        """Train and test loaders; under torchrun each rank gets its slice of every global batch."""
        size = self.batch_size
        train, test = self.source.loaders(size["train"], self.device, self.cfg.seed, size["eval"],
                                          drop_last=self.cfg.trainer.get("drop_last"))
        if hasattr(train, "schedule"):  # loaders that change over a run (the shortest-path curriculum)
            train.schedule(self.epochs)
            test.schedule(self.epochs)
            self.curriculum = train  # its current phase goes into every epoch's metrics
        if self.ctx.active:
            return distributed.ShardedLoader(train, self.ctx), distributed.ShardedLoader(test, self.ctx)
        return train, test

    def extra_eval_loaders(self) -> Dict[str, Any]:
        """Evaluation sets beside the test set, by their metrics' prefix: the validation split held out of
        training (`val`), held-out sets of every difficulty (`heldout<name>`)."""
        batch_size = self.batch_size["eval"]
        loaders = {}
        if getattr(self.source, "holds_validation", False):
            val = self.source.validation_loader(batch_size, self.device, self.cfg.seed)
            loaders["val"] = distributed.ShardedLoader(val, self.ctx) if self.ctx.active else val
        if hasattr(self.source, "heldout_loaders"):
            heldout = self.source.heldout_loaders(batch_size, self.device, self.cfg.seed)
            loaders.update({f"heldout{name}": loader for name, loader in heldout.items()})
        return loaders

    def run_analyses(self, test_loader, epoch: int) -> Dict[str, Any]:
        """Every selected analysis on the current weights, merged into the record's `analysis`.

        Under torchrun every rank runs them (evaluation sums over the ranks' slices), only the writer saves.
        One that crashes is recorded in `analysis_errors`, not fatal, and never replaces an earlier result
        (the checkpoint is saved: rerun it with mode=eval)."""
        def evaluate_model(model: torch.nn.Module, desc: str) -> Dict[str, float]:
            return evaluate(model, test_loader, self.task, self.step, self.cfg.budget.max_eval_batches, desc)

        results, errors = dict(self.record.summary().get("analysis", {})), {}
        out_dir = self.record.artifacts / "analysis" if self.record.writer else None
        for name, analysis in self.analyses.items():
            log.info("analysis %s", name)
            try:
                results[name] = analysis(functools.partial(evaluate_model, desc=f"analysis {name}"), out_dir, epoch)
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
        """Everything a resume needs, and the config it was trained with (a resume is checked against it)."""
        state = {"epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "schedule": self.schedule.state_dict(), "best": best,
                 "rng_cpu": torch.get_rng_state(), "seed": self.cfg.seed,
                 "config": OmegaConf.to_container(self.cfg, resolve=True)}
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self, state: Dict[str, Any], path: Path, weights_only: bool = False) -> None:
        """Load a checkpoint's weights (and, to resume, its optimiser, schedule and RNG state)."""
        try:
            self.model.load_state_dict(state["model"])
            if weights_only:
                return
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
            "batch_size": self.batch_size,
            **{k: self.counts[k] for k in ("params", "params_conv", "macs", "flops")},
            **({"match": self.match} if self.match else {}),
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            "compute": self.compute.record(),
            "versions": versions(), "git_commit": git_commit(Path(cfg.paths.root)),
            "run_dir": str(self.record.dir), "world_size": self.ctx.world,
            "selection": {"best_on": self.best_on, "schedule_on": self.selection if self.schedule.needs_metric
                          else None, "reported": "best" if (self.best_on or "").startswith("val_") else "final"},
        }


def selection_metric(select_on: str, source: Any) -> str:
    """The metric that picks the best epoch and drives a plateau schedule: `val_<m>` on the validation split
    the data set holds out (the soft-sharing code's 45k/5k protocol), else `test_<m>` (the papers' texts);
    m is F1 for segmentation, top-1 accuracy otherwise."""
    holds = getattr(source, "holds_validation", False)
    if select_on == "val" and not holds:
        raise ConfigError("trainer.select_on=val needs a validation split held out of training beside the test "
                          "set: dataset.val_size > 0 with dataset.eval_split=test (cifar10, cifar100)")
    split = "val" if select_on == "val" or (select_on == "auto" and holds) else "test"
    return f"{split}_{'f1' if source.info.task == 'segmentation' else 'acc'}"


def best_metric(select_on: str, selection: str) -> Optional[str]:
    """The metric that picks the best epoch (best.pt, the summary's and W&B's `best`): the held-out split's, or
    the test set's only when asked for by name (trainer.select_on=test); with no split held out a best epoch
    picked on test would be a test-set selection, so `auto` keeps none and the run reports its final epoch."""
    if selection.startswith("val_") or select_on == "test":
        return selection
    return None


def keep_best(best: Dict[str, Any], row: Dict[str, Any], key: str) -> Dict[str, Any]:
    """The row with the highest `key` so far: its epoch and every evaluation split's metrics."""
    if key in row and (not best or row[key] > best.get(key, float("-inf"))):
        return {k: v for k, v in row.items() if k.startswith(("test_", "val_")) or k == "epoch"}
    return best


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def train(cfg: DictConfig, run_dir: Path) -> Dict[str, Any]:
    """Train (resuming when the run dir holds a checkpoint); returns the summary.

    Everything is built and every check passes before the record is touched: a rerun that cannot start
    leaves an existing record byte for byte as it was (a fresh dir gets a `failed` summary naming the
    error). Under torchrun every rank trains; only rank 0 holds the lock and writes the record,
    checkpoints and W&B.
    """
    try:
        validate(cfg)
        ctx = distributed.setup(resolve_device(cfg.trainer.device).type)
    except BaseException as err:
        _fail_fresh(RunRecord(run_dir, writer=distributed.rank_from_env() == 0), err)
        raise
    record = RunRecord(run_dir, writer=ctx.is_main)
    try:
        record.prepare()
        with record.writing(), sigterm_interrupts():  # a stop signal from here on ends the attempt `interrupted`
            return _train_locked(cfg, record, ctx)
    finally:
        distributed.teardown()


@dataclasses.dataclass
class Start:
    """Where a training attempt starts, found before anything is written."""

    run: Run
    epoch: int = 1
    best: Dict[str, Any] = dataclasses.field(default_factory=dict)
    changed: Dict[str, Any] = dataclasses.field(default_factory=dict)  # allowed config changes on resume
    init_from: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the checkpoint a fine-tune began from


def _fail_fresh(record: RunRecord, err: BaseException) -> None:
    """A run that could not start: a fresh dir gets a `failed` summary naming the error (so a sweep's
    failed job shows in its folder); an existing record is left exactly as it was. A stop signal is no
    failure: it leaves nothing."""
    if isinstance(err, KeyboardInterrupt):
        return
    if record.writer and record.dir.is_dir() and not record.summary_path.exists() and \
            not record.metrics_path.exists():
        record.update_summary(status="failed", mode="train", error=one_line(err), run_dir=str(record.dir))


def _prepare(cfg: DictConfig, record: RunRecord, ctx: distributed.Context) -> Start:
    """Build the run, load what it resumes from and check that it may: every failure here leaves the
    run dir as it was."""
    run = Run(cfg, record, ctx)
    new = OmegaConf.to_container(cfg, resolve=True)
    old = record.config()
    if record.checkpoint.exists():
        state = load_checkpoint(record.checkpoint)
        changed = check_resume(record.dir, state.get("config") or old or new, new, state["epoch"], run.epochs)
        run.restore(state, record.checkpoint)
        log.info("resuming %s at epoch %d", record.dir, state["epoch"] + 1)
        return Start(run, state["epoch"] + 1, state["best"], changed, record.summary().get("init_from", {}))
    if record.summary().get("status") == "completed":
        raise CheckpointError(f"run dir {record.dir} holds a completed record but no checkpoint to resume "
                              "from (curated records are kept without them); train a new run in another "
                              "hydra.run.dir")
    changed = check_resume(record.dir, old, new, 0, run.epochs) if old else {}
    if not cfg.trainer.init_from:
        return Start(run, changed=changed)
    source = Path(cfg.trainer.init_from)
    if source.is_dir():
        source = source / "checkpoints" / "last.pt"
    state = load_checkpoint(source)
    run.restore(state, source, weights_only=True)
    log.info("fine-tuning from %s (epoch %d of %s)", source, state["epoch"], run_dir_of(source))
    return Start(run, changed=changed, init_from={"checkpoint": str(source.resolve()), "epoch": state["epoch"],
                                                  "run_dir": str(run_dir_of(source).resolve())})


def _train_locked(cfg: DictConfig, record: RunRecord, ctx: distributed.Context) -> Dict[str, Any]:
    before = record.summary()
    try:
        begin = _prepare(cfg, record, ctx)
        reference = begin.run.reference()
    except BaseException as err:
        _fail_fresh(record, err)
        raise
    run = begin.run
    if begin.epoch > run.epochs and before.get("status") == "completed":
        log.info("run %s is already completed (%d epochs); nothing to do", record.dir, run.epochs)
        return before
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    protocol = protocol_changes(begin.changed, OmegaConf.to_container(cfg, resolve=True))  # forced
    record.begin_attempt(epochs=[begin.epoch, run.epochs], overrides=overrides, changed=begin.changed,
                         **({"protocol_changed": protocol} if protocol else {}))
    tracker, failed = Tracker(), True
    try:
        record.write_config(cfg)
        record.keep_metrics_through(begin.epoch - 1)
        extra = {"init_from": begin.init_from} if begin.init_from else {}
        record.update_summary(**run.base_summary(), **reference, **extra)
        tags = [f"{k}:{v}" for k, v in run_tags(cfg).items() if v]
        logger_cfg = cfg.logger if ctx.is_main else OmegaConf.create({"name": "none", "mode": "disabled"})
        tracker = make_tracker(logger_cfg, record.dir, name=f"{cfg.name}-seed{cfg.seed}", **grouping(cfg),
                               tags=tags, config=OmegaConf.to_container(cfg, resolve=True))
        with record.heartbeat():
            train_loader, test_loader = run.loaders()
            best = _epochs(cfg, run, record, tracker, train_loader, test_loader, begin.epoch, begin.best)
            final = record.metrics()[-1] if record.metrics() else {}
            if run.analyses:
                run.run_analyses(test_loader, run.epochs)
        reported = best if run.best_on and run.best_on.startswith("val_") else final  # what the tables quote
        kept = {"best": best} if run.best_on else {}
        summary = record.end_attempt("completed", final=final, **kept, reported=reported,
                                     epochs_done=run.epochs, groups=run.counts.get("groups", {}), finished=now(),
                                     error=None)
        tracker.log_artifacts(record.artifacts)
        tracker.log_results(record.dir)
        failed = False
        return summary
    except BaseException as err:
        done = sum(1 for m in record.metrics() if not m.get("nonfinite"))
        record.end_attempt("interrupted" if isinstance(err, KeyboardInterrupt) else "failed",
                           error=one_line(err), epochs_done=done)
        raise
    finally:
        tracker.log_summary(record.summary())
        tracker.finish(failed)


def _epochs(cfg: DictConfig, run: Run, record: RunRecord, tracker, train_loader, test_loader, start: int,
            best: Dict[str, Any]) -> Dict[str, Any]:
    """Epochs start..planned: train, test, record, checkpoint; returns the best row's test metrics."""
    ctx = run.ctx
    extra_eval = run.extra_eval_loaders()
    saved, attempt_started = start - 1, time.time()
    for epoch in range(start, run.epochs + 1):
        epoch_started = time.time()
        train_loader.set_epoch(epoch)
        test_loader.set_epoch(epoch)
        lr = run.optimizer.param_groups[0]["lr"]
        tr = train_epoch(run.forward_model, train_loader, run.task, run.optimizer, run.step,
                         run.sharing.regularization, f"epoch {epoch}/{run.epochs}",
                         cfg.trainer.progress and ctx.is_main, cfg.budget.max_train_batches)
        tr["images_per_s"] *= ctx.world  # every rank trains its 1/world slice of each global batch
        te = evaluate(run.forward_model, test_loader, run.task, run.step, cfg.budget.max_eval_batches)
        row = {"epoch": epoch, "lr": lr, **{f"train_{k}": v for k, v in tr.items()},
               **{f"test_{k}": v for k, v in te.items()}}
        if run.curriculum is not None:
            row["train_phase"] = run.curriculum.phase
        for name, loader in extra_eval.items():
            row.update({f"{name}_{k}": v for k, v in evaluate(
                run.forward_model, loader, run.task, run.step, cfg.budget.max_eval_batches, name).items()})
        row["seconds"] = time.time() - epoch_started
        nonfinite = sorted(k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v))
        if nonfinite:  # diverged: record the epoch (null values, flagged), keep the last good checkpoint
            record.append_metrics({**row, "nonfinite": nonfinite})
            raise NonFiniteLossError(f"{', '.join(nonfinite)} not finite after epoch {epoch}; the checkpoint of "
                                     f"epoch {saved} is kept (lower optimizer.lr or set trainer.grad_clip)")
        run.schedule.step(row[run.selection])
        kept = keep_best(best, row, run.best_on) if run.best_on else best
        improved, best = kept is not best, kept
        with epoch_commit():
            record.append_metrics(row)
            if ctx.is_main:
                run.sharing.on_epoch_end(epoch, record.artifacts, last=epoch == run.epochs)
            if ctx.is_main and (epoch % cfg.trainer.checkpoint_every == 0 or epoch == run.epochs):
                save_checkpoint(record.checkpoint, run.state(epoch, best))
                saved = epoch
            if ctx.is_main and improved:  # timm's model_best: the epoch the summary's `best` reports
                if saved == epoch:
                    link_checkpoint(record.checkpoint, record.best_checkpoint)
                else:
                    save_checkpoint(record.best_checkpoint, run.state(epoch, best))
            tracker.log_epoch(row)
        if ctx.is_main:
            eta = (time.time() - attempt_started) / (epoch - start + 1) * (run.epochs - epoch)
            val = f"  val acc {row['val_acc']:.2f}" if "val_acc" in row else ""
            log.info("epoch %d/%d  train loss %.4f acc %.2f  test loss %.4f acc %.2f%s  (lr %.3g, %.0f img/s, "
                     "%.1f s, ETA %s)", epoch, run.epochs, tr["loss"], tr["acc"], te["loss"], te["acc"], val, lr,
                     tr["images_per_s"], row["seconds"], progress.duration(eta))
    return best


#: overrides that pick what mode=eval does, not how the evaluated run was built
EVAL_KEYS = ("mode", "checkpoint", "analysis", "logger")


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
    validate(cfg)
    cfg = eval_config(cfg)
    path = Path(cfg.checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    record = RunRecord(run_dir_of(path))
    with record.writing():  # the eval writes into the run's record: not while the run trains
        run = Run(cfg, record, distributed.Context())
        run.restore(state, path)
        _, test_loader = run.loaders()
        metrics = evaluate(run.forward_model, test_loader, run.task, run.step, cfg.budget.max_eval_batches)
        record.update_summary(eval={**{f"test_{k}": v for k, v in metrics.items()}, "checkpoint": str(path),
                                    "epoch": state["epoch"], "at": now()})
        return run.run_analyses(test_loader, state["epoch"])
