"""Every experiment preset's training protocol, field by field, beside where each value comes from.

`fields(preset)` reads the protocol from the composed configs of the preset's jobs (one per data set and
other swept key; rows and seeds are read from the row files and the sweep) and renders each field as a
short string; `init` is probed from each row's built model (analysis/init_probe.py), so it is what the
builders do. docs/protocol_sources.yaml says, for each field, which value it documents and its source: a
sentence of the paper, a location in the authors' code, or "not stated; ours: ... because ...". An entry
under a paper key (`softshare:`) covers every preset of that paper whose value it matches; a preset entry
overrides it. `document()` renders docs/protocols.md and fails when a field has no entry, when an entry
documents another value than the preset now has (stale), or when an entry names no preset or field.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pandas as pd
import yaml
from omegaconf import OmegaConf

from ..config import CONF_DIR, compose
from ..models import MODELS

DOCS = CONF_DIR.parent / "docs"
SOURCES = DOCS / "protocol_sources.yaml"
PAPER_DIR = CONF_DIR.parent / "results" / "paper"

FIELDS = ("optimizer", "lr", "momentum", "weight_decay", "schedule", "epochs", "batch", "drop_last", "augmentation",
          "normalisation", "split", "dropout", "init", "eval", "seeds", "grad_clip", "precision", "deterministic")
#: what trainer.precision resolves to (engine/compute.py resolve_compute)
PRECISION = {"auto": "auto: bf16 autocast on CUDA and bf16-capable CPUs, else fp32", "fp32": "fp32",
             "bf16": "bf16 autocast on every device"}

#: dataset keys by the field they belong to, augmentation keys in the order the pipeline applies them
DATASET_KEYS = {
    "augmentation": ("pad_crop", "crop", "rotate", "upsample", "vflip", "flip", "color_jitter", "lighting",
                     "cutout"),
    "normalisation": ("normalize",),
    "split": ("variant", "val_size", "eval_split", "split_seed", "train_size", "test_size", "heldout_size",
              "test_fraction", "phase", "curriculum", "obstacle_p", "noise", "data_seed"),
    "eval": ("resize", "eval_crops"),
    None: ("name", "root", "mnist_root", "download", "format", "workers", "num_classes", "channels",
           "image_size"),  # where the data lives and what it is, not how it is used
}
#: what the report reads of a reported column (results/paper/reported_*.csv: '<quantity>@<data set>')
METRICS = {"acc": "top-1", "error": "top-1", "top1_error": "top-1", "top5": "top-5", "top5_error": "top-5",
           "f1": "F1"}


class ProtocolError(ValueError):
    """A preset field without a source entry, a stale entry, or an entry for nothing."""


def presets() -> List[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in (CONF_DIR / "experiment").glob("*/*.yaml"))


@lru_cache(maxsize=None)
def _load(path: Path) -> Dict[str, Any]:
    """A config file as plain containers (cached: row and group files are read once per preset; callers do
    not modify it)."""
    return OmegaConf.to_container(OmegaConf.load(path))


def _builder(group: str, option: str) -> str:
    """The builder a group option selects: its `/schema/<group>/<builder>@_here_` default."""
    for entry in _load(CONF_DIR / group / f"{option}.yaml").get("defaults", []):
        if isinstance(entry, str) and entry.startswith(f"/schema/{group}/"):
            return entry.split("/")[-1].split("@")[0]
    raise ProtocolError(f"conf/{group}/{option}.yaml names no /schema/{group}/<builder> default")


@dataclass(frozen=True)
class Row:
    """What a row file sets: its label, model and sharing options, a data set it forces, its dropout."""

    label: str
    model: str
    sharing: str
    dataset: str
    dropout: Any  # None: the model has no dropout


def read_row(row: str, preset_choice: Dict[str, str]) -> Row:
    node = _load(CONF_DIR / "row" / f"{row}.yaml")
    choice = dict(preset_choice)
    for entry in node.get("defaults", []):
        for key, value in entry.items():
            choice[key.removeprefix("override ").lstrip("/")] = value
    builder = _builder("model", choice["model"])
    dropout = None
    if "dropout" in MODELS.params(builder, skip=1):  # row value, else the group option's, else the builder's
        option = _load(CONF_DIR / "model" / f"{choice['model']}.yaml")
        dropout = node.get("model", {}).get("dropout", option.get("dropout",
                                                                 MODELS.params(builder, skip=1)["dropout"].default))
    return Row(node["tags"]["row"], builder, _builder("sharing", choice["sharing"]), choice["dataset"], dropout)


@dataclass
class Preset:
    name: str
    jobs: List[Tuple[str, Any]]  # (label, composed config) per data set / swept key
    rows: List[Row]
    seeds: str
    row_paths: Tuple[str, ...] = ()  # the sweep's row options, in the order of `rows`
    default: Any = None  # the composed preset alone (its default row)


def _sweep(name: str) -> Dict[str, List[str]]:
    params = _load(CONF_DIR / "experiment" / f"{name}.yaml")["hydra"]["sweeper"]["params"]
    return {key: [v.strip() for v in str(value).split(",")] for key, value in params.items()}


def load(name: str) -> Preset:
    """Compose one job per data set (swept, or forced by rows) and per value of any other swept key."""
    sweep = _sweep(name)
    first = compose([f"experiment={name}"])
    choice = {}  # group -> option: the root config's defaults, then the preset's overrides
    defaults = _load(CONF_DIR / "config.yaml")["defaults"] + _load(CONF_DIR / "experiment" / f"{name}.yaml")["defaults"]
    for entry in defaults:
        for key, value in (entry.items() if isinstance(entry, dict) else ()):
            choice[key.removeprefix("override ").lstrip("/")] = value
    rows = [read_row(row, choice) for row in sweep["row"]]
    if "dataset" in sweep:
        datasets = [[] if d == first.dataset.name else [f"dataset={d}"] for d in sweep["dataset"]]
    else:  # rows that force a data set bring it; one row per data set suffices (the default row: none)
        forced: Dict[str, str] = {}
        for row, path in zip(rows, sweep["row"]):
            forced.setdefault(row.dataset, path)
        datasets = [[] if path == sweep["row"][0] else [f"row={path}"] for path in forced.values()]
    others = [[f"{key}={v}" for v in values] for key, values in sweep.items()
              if key not in ("row", "seed", "dataset")]
    jobs = []
    for data, *rest in itertools.product(datasets, *others):
        overrides = [*data, *rest]
        cfg = compose([f"experiment={name}", *overrides]) if overrides else first
        jobs.append((cfg.dataset.name, cfg))
    return Preset(name, jobs, rows, ", ".join(sweep["seed"]), tuple(sweep["row"]), first)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _keys(node: Dict[str, Any], keys: Sequence[str], lead: str = "", empty: str = "none") -> str:
    """`lead` then the node's values of `keys`, in that order (`empty` when there are none)."""
    parts = ([lead] if lead else []) + [f"{k}={_fmt(node[k])}" for k in keys if k in node]
    return ", ".join(parts) if parts else empty


@lru_cache(maxsize=None)
def reported_metrics(paper: str, item: str) -> str:
    """Which metrics the item's reported columns are (results/paper/reported_*.csv), as the report reads them."""
    frames = [pd.read_csv(p, dtype=str) for p in sorted(PAPER_DIR.glob("reported_*.csv"))]
    table = pd.concat(frames)
    columns = table[(table.paper == paper) & (table.item == item)].column.str.split("@").str[0]
    found = sorted({METRICS[c] for c in columns if c in METRICS})
    return " and ".join(found) if found else "no printed metric (a figure)"


def reported_epoch(cfg) -> str:
    """Which epoch's test metrics the record reports: the trainer's own rule (selection_metric) on the data set
    the preset builds (building it reads no file)."""
    from ..data import build_data
    from ..engine.trainer import selection_metric

    if selection_metric(cfg.trainer.select_on, build_data(cfg.dataset)).startswith("val_"):
        return f"the epoch best on a {cfg.dataset.val_size}-image validation split (select_on={cfg.trainer.select_on})"
    return "final epoch"


def _per_job(preset: Preset, render) -> str:
    """One value, or, where the jobs differ, each value after the data sets it holds for."""
    groups: Dict[str, List[str]] = {}
    for label, cfg in preset.jobs:
        groups.setdefault(render(cfg), []).append(label)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{', '.join(labels)}: {value}" for value, labels in groups.items())


def _dataset(cfg) -> Dict[str, Any]:
    node = OmegaConf.to_container(cfg.dataset, resolve=False)
    known = {k for keys in DATASET_KEYS.values() for k in keys}
    unknown = sorted(set(node) - known)
    if unknown:
        raise ProtocolError(f"dataset {node['name']} has option(s) {unknown} that no protocol field shows: add "
                            "them to DATASET_KEYS in repeatnet_repro/analysis/protocols.py")
    return node


def _resolved(cfg, group: str) -> Dict[str, Any]:
    return OmegaConf.to_container(cfg[group], resolve=True)


_PROBES: Dict[str, Dict[str, str]] = {}


def probe_init(cfg) -> Dict[str, str]:
    """init_probe.probe of the composed config's model, once per distinct model, sharing and data shape."""
    from ..data import build_data
    from .init_probe import probe

    key = repr((OmegaConf.to_container(cfg.model, resolve=True), OmegaConf.to_container(cfg.sharing, resolve=True),
                build_data(cfg.dataset).info))
    if key not in _PROBES:
        _PROBES[key] = probe(cfg)
    return _PROBES[key]


def row_config(preset: Preset, row: str):
    """The preset composed with one of its rows (on the preset's own data set unless the row forces another)."""
    defaults = _load(CONF_DIR / "experiment" / f"{preset.name}.yaml")["defaults"]
    if preset.default is not None and {"/row": row} in defaults:
        return preset.default
    return compose([f"experiment={preset.name}", f"row={row}"])


def _rows(rows: List[str], lacking: Optional[List[str]], total: int) -> str:
    """' [rows]' after an init some rows have; '' when all have it; '[all but ...]' when that is shorter."""
    if len(rows) == total:
        return ""
    if lacking and len(", ".join(lacking)) < len(", ".join(rows)):
        return f" [all but {', '.join(lacking)}]"
    return f" [{', '.join(rows)}]"


def init_field(preset: Preset) -> str:
    """What each row's model starts as, probed from its built parameters (analysis/init_probe.py): per kind of
    parameter one init where all rows agree, else each init with its rows in brackets."""
    from .init_probe import KINDS

    per_row = {row.label: probe_init(row_config(preset, path)) for row, path in zip(preset.rows, preset.row_paths)}
    parts = []
    for kind in KINDS.values():
        having = [label for label, d in per_row.items() if kind in d]
        if not having:
            continue
        groups: Dict[str, List[str]] = {}
        for label in having:
            groups.setdefault(per_row[label][kind], []).append(label)
        lacking = [label for label in per_row if label not in having]
        parts.append(f"{kind}: " + " | ".join(v + _rows(rows, lacking if len(groups) == 1 else None, len(per_row))
                                              for v, rows in groups.items()))
    return "; ".join(parts)


def fields(preset: Preset) -> Dict[str, str]:
    """Each protocol field of the preset as the string its source entry documents."""
    paper, item = preset.name.split("/")

    def momentum(cfg) -> str:
        o = _resolved(cfg, "optimizer")
        if o["name"] == "adam":
            return f"betas {_fmt(o['beta1'])}, {_fmt(o['beta2'])}"
        return f"{_fmt(o['momentum'])}" + (", Nesterov" if o.get("nesterov") else "")

    def schedule(cfg) -> str:
        s = _resolved(cfg, "schedule")
        return s.pop("name") + "".join(f", {k} {_fmt(v)}" for k, v in s.items())

    def by_row(value) -> str:
        groups: Dict[str, List[str]] = {}
        for row in preset.rows:
            groups.setdefault(value(row), []).append(row.label)
        if len(groups) == 1:
            return next(iter(groups))
        return "; ".join(f"{v} ({', '.join(labels)})" for v, labels in groups.items())

    sharings = sorted({row.sharing for row in preset.rows})
    return {
        "optimizer": _per_job(preset, lambda c: c.optimizer.name),
        "lr": _per_job(preset, lambda c: _fmt(_resolved(c, "optimizer")["lr"])),
        "momentum": _per_job(preset, momentum),
        "weight_decay": _per_job(preset, lambda c: f"{_fmt(_resolved(c, 'optimizer')['weight_decay'])}; "
                                                   f"rows' sharing: {', '.join(sharings)}"),
        "schedule": _per_job(preset, schedule),
        "epochs": _per_job(preset, lambda c: _fmt(_resolved(c, "trainer")["epochs"])),
        "batch": _per_job(preset, lambda c: _fmt(c.trainer.batch_size)),
        "drop_last": _per_job(preset, lambda c: "null (the data set's habit)" if c.trainer.get("drop_last") is None
                              else _fmt(bool(c.trainer.drop_last))),
        "augmentation": _per_job(preset, lambda c: _keys(_dataset(c), DATASET_KEYS["augmentation"])),
        "normalisation": _per_job(preset, lambda c: _keys(_dataset(c), DATASET_KEYS["normalisation"],
                                                          empty="fixed by the data set (no option)")),
        "split": _per_job(preset, lambda c: _keys(_dataset(c), DATASET_KEYS["split"],
                                                  empty="fixed by the data set (no option)")),
        "dropout": by_row(lambda row: "none in the model" if row.dropout is None else _fmt(float(row.dropout))),
        "init": init_field(preset),
        "eval": _per_job(preset, lambda c: _keys(_dataset(c), DATASET_KEYS["eval"],
                                                 f"{reported_epoch(c)}, {reported_metrics(paper, item)}")),
        "seeds": preset.seeds,
        "grad_clip": _per_job(preset, lambda c: f"max norm {_fmt(c.trainer.grad_clip)}" if c.trainer.grad_clip
                              else "none"),
        "precision": _per_job(preset, lambda c: PRECISION[c.trainer.precision]),
        "deterministic": _per_job(preset, lambda c: _fmt(bool(c.trainer.get("deterministic", False)))),
    }


def read_sources(path: Path = SOURCES) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text())


def resolve_sources(values: Dict[str, Dict[str, str]], sources: Dict[str, Any]) -> Dict[str, Dict[str, str]]:
    """preset -> field -> source, checking that every entry exists, is current and is used."""
    entries = sources["sources"]
    problems, used = [], set()
    known = set(values) | {name.split("/")[0] for name in values}
    problems += [f"entry '{key}' names no preset or paper" for key in entries if key not in known]
    problems += [f"entry {key}.{field}: no such field (fields: {', '.join(FIELDS)})"
                 for key, node in entries.items() for field in node if field not in FIELDS]
    out: Dict[str, Dict[str, str]] = {}
    for name, row in values.items():
        for field, value in row.items():
            key = name if field in entries.get(name, {}) else name.split("/")[0]
            entry = entries.get(key, {}).get(field)
            if entry is None:
                problems.append(f"{name}.{field} = {value!r}: no source entry (add one under '{name}' or "
                                f"'{name.split('/')[0]}')")
            elif str(entry["value"]) != value:
                problems.append(f"{name}.{field} = {value!r}, but the entry under '{key}' documents "
                                f"{entry['value']!r}: stale (update it, or give {name} its own entry)")
            else:
                used.add((key, field))
                out.setdefault(name, {})[field] = entry["source"]
    problems += [f"entry {key}.{field} documents a value no preset has"
                 for key, node in entries.items() for field in node
                 if field in FIELDS and key in known and (key, field) not in used]
    if problems:
        raise ProtocolError("docs/protocol_sources.yaml does not match the presets:\n  " + "\n  ".join(problems))
    return out


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(values: Dict[str, Dict[str, str]], sources: Dict[str, Any]) -> str:
    documented = resolve_sources(values, sources)
    lines = ["# Training protocols of the experiment presets", "",
             "Generated by `python scripts/protocols.py` from the composed presets (conf/experiment/) and "
             "docs/protocol_sources.yaml; `init` is read off each row's model as built (seed 0) by "
             "repeatnet_repro/analysis/init_probe.py. tests/test_protocols.py fails when a preset or a builder "
             "changes without its entry. \"ours\" marks a choice where the paper and the authors' code are silent "
             "or differ for a stated reason.", ""]
    if sources.get("pending"):
        lines += ["## Pending", "", *[f"- {_cell(p)}" for p in sources["pending"]], ""]
    for name in values:
        lines += [f"## {name}", "", "| field | ours | source |", "|---|---|---|"]
        lines += [f"| {field} | {_cell(value)} | {_cell(documented[name][field])} |"
                  for field, value in values[name].items()]
        lines.append("")
    return "\n".join(lines)


def all_fields(names: Sequence[str] = ()) -> Dict[str, Dict[str, str]]:
    return {name: fields(load(name)) for name in (names or presets())}


def document(sources_path: Path = SOURCES) -> str:
    """docs/protocols.md for every preset; ProtocolError when a source entry is missing or stale."""
    return markdown(all_fields(), read_sources(sources_path))
