"""`python -m repeatnet_repro.catalog [paths.data_dir=DIR]` (`rr-list`): what there is to run, and whether
its data is here.

Lists the models, sharing schemes and data sets (each data set with its root and whether the files it reads
are there) and every experiment preset with its runs, the data sets it needs (and whether they are there)
and its epochs under each budget. The config files are read as YAML, not composed (only `paths` is, so
`paths.data_dir=DIR` and REPEATNET_DATA are honoured), no model is built and no data read, so the listing
takes seconds (`make experiments`). The GPU hours of every preset need every job composed and counted:
`make costs` (scripts/list_experiments.py), about a minute; the listing's last line says which GPU throughput
those hours divide by (`gpu_throughput`: a committed GPU benchmark record, else the assumed 100 TFLOP/s).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml
from omegaconf import OmegaConf

from .config import CONF_DIR, BudgetConfig, TrainerConfig, compose
from .data import DATASETS, build_data
from .data.base import ABSENT, MADE
from .engine.trainer import planned_epochs

ROOT_DATASET = "digits"  # conf/config.yaml's default
#: options that say where or in which form a data set's files are: another value may find them
ALTERNATIVES = ("format", "variant")
BUDGETS = ("paper", "short", "smoke")


def describe(path: Path) -> str:
    """A config file's first comment line: what the option is."""
    for line in path.read_text().splitlines():
        if line.startswith("#") and not line.startswith("# @package"):
            return line.lstrip("# ").strip()
    return ""


def options(group: str) -> Dict[str, str]:
    """option -> description of every file of a config group (conf/<group>/*.yaml)."""
    return {p.stem: describe(p) for p in sorted((CONF_DIR / group).glob("*.yaml"))}


def presets() -> List[str]:
    return sorted(str(p.relative_to(CONF_DIR / "experiment").with_suffix(""))
                  for p in (CONF_DIR / "experiment").rglob("*.yaml"))


def _defaults_dataset(path: Path) -> Optional[str]:
    """The data set a preset or row file picks in its defaults list (`override /dataset: X`), if any."""
    for entry in yaml.safe_load(path.read_text()).get("defaults") or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if key.replace("override ", "").strip("/ ") == "dataset":
                    return str(value)
    return None


def sweep_values(text: str) -> List[str]:
    """The values of one swept key as the basic sweeper reads them: a comma list, or range(a, b[, step])."""
    text = str(text).strip()
    if text.startswith("range(") and text.endswith(")"):
        return [str(v) for v in range(*(int(a) for a in text[6:-1].split(",")))]
    return [v.strip() for v in text.split(",")]


def sweep_params(preset: str) -> Dict[str, List[str]]:
    """key -> swept values of a preset's hydra.sweeper.params (none: the preset is one run)."""
    node = yaml.safe_load((CONF_DIR / "experiment" / f"{preset}.yaml").read_text())
    params = ((node.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
    return {key: sweep_values(value) for key, value in params.items()}


def preset_runs_and_data(preset: str) -> Dict[str, object]:
    """Runs (the product of the swept values) and the data sets the runs train on."""
    params = sweep_params(preset)
    runs = 1
    for values in params.values():
        runs *= len(values)
    base = _defaults_dataset(CONF_DIR / "experiment" / f"{preset}.yaml") or ROOT_DATASET
    if "dataset" in params:  # a swept value wins over a row's own choice, as on the command line
        datasets = set(params["dataset"])
    else:
        datasets = {_defaults_dataset(CONF_DIR / "row" / f"{row}.yaml") or base for row in params.get("row", [])}
    return {"runs": runs, "datasets": sorted(datasets or {base})}


def _yaml(path: Path) -> dict:
    return {k: v for k, v in (yaml.safe_load(path.read_text()) or {}).items() if k != "defaults"}


def epochs(preset: str, datasets: List[str]) -> Dict[str, str]:
    """budget -> the epochs its runs plan (a range when the data sets' protocols differ), as the trainer plans
    them from the preset's trainer.epochs (a number, or an interpolation of its per-data-set protocol)."""
    own = _yaml(CONF_DIR / "experiment" / f"{preset}.yaml")
    planned: Dict[str, set] = {b: set() for b in BUDGETS}
    for dataset in datasets:
        node = OmegaConf.create({"protocol": own.get("protocol"), "dataset": {"name": dataset},
                                 "trainer": {"epochs": (own.get("trainer") or {}).get("epochs",
                                                                                      TrainerConfig.epochs)}})
        for budget in BUDGETS:
            plan = {"trainer": {"epochs": node.trainer.epochs},
                    "budget": OmegaConf.merge(OmegaConf.structured(BudgetConfig),
                                              _yaml(CONF_DIR / "budget" / f"{budget}.yaml"))}
            planned[budget].add(planned_epochs(OmegaConf.create(plan)))
    return {b: "-".join(str(v) for v in sorted({min(e), max(e)})) for b, e in planned.items()}


def dataset_node(dataset: str, paths: dict) -> dict:
    """conf/dataset/<dataset>.yaml's keys, its ${paths.*} resolved; the builder's defaults fill the rest."""
    own = _yaml(CONF_DIR / "dataset" / f"{dataset}.yaml")
    return OmegaConf.to_container(OmegaConf.create({"paths": paths, "dataset": own}), resolve=True)["dataset"]


def availability(dataset: str, paths: dict) -> Dict[str, str]:
    """root and availability of a data set; one present only in another format or variant says which."""
    node = {"name": dataset, **dataset_node(dataset, paths)}
    status = DATASETS.build(node).availability()
    constraints = DATASETS.constraints(dataset)
    for key in (k for k in ALTERNATIVES if k in constraints and status == ABSENT):
        current = node.get(key, DATASETS.params(dataset)[key].default)
        for value in constraints[key].values:
            if value != current and DATASETS.build({**node, key: value}).availability() != ABSENT:
                status = f"present as dataset.{key}={value}"
    return {"root": str(node.get("root", "")) if status != MADE else "", "status": status}


BENCHMARKS = Path(__file__).resolve().parent.parent / "results" / "benchmarks"
ASSUMED_TFLOPS = 100.0  # bf16 autocast on one H100, about a tenth of its dense peak


def gpu_throughput(given: Optional[float] = None, folder: Path = BENCHMARKS) -> Tuple[float, str]:
    """The sustained TFLOP/s a GPU-hour estimate divides by, and where it comes from: `given` (--tflops), else
    the calibration of the newest committed GPU record (results/benchmarks/gpu_*.json from scripts/gpu_check.sh,
    device cuda: a WRN-28-10 epoch on the default bf16 eager path), else the assumed 100."""
    if given is not None:
        return given, f"{given:g} TFLOP/s (--tflops)"
    records = []
    for path in sorted(Path(folder).glob("gpu_*.json")):
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if r.get("device") == "cuda" and (r.get("calibration") or {}).get("tflops"):
            records.append((str(r.get("written", "")), path.name, r))
    if not records:
        return ASSUMED_TFLOPS, f"{ASSUMED_TFLOPS:g} TFLOP/s, assumed (no GPU record under results/benchmarks/)"
    _, name, r = max(records, key=lambda t: t[:2])
    tflops = float(r["calibration"]["tflops"])
    return tflops, f"{tflops:.1f} TFLOP/s, measured on {r.get('gpu')} ({name}: {r['calibration']['from']})"


def smoke_stand_in(preset: str, grids_dir: Path, image_size: Optional[int] = None, row: Optional[str] = None
                   ) -> Tuple[Any, List[str]]:
    """The preset's composed config and the overrides that run its default row (or `row`) at budget=smoke on CPU
    where its data is not here: generated images with the data set's classes, channels and (unless `image_size`)
    size, 16 to train and 8 to test; the shortest-path task generates its own grids, few of them, under grids_dir."""
    rows = [f"row={row}"] if row else []
    cfg = compose([f"experiment={preset}", *rows])
    info = build_data(cfg.dataset).info
    if cfg.dataset.name == "shortest_paths":
        data = ["dataset.train_size=16", "dataset.heldout_size=8", f"dataset.root={grids_dir}"]
    else:
        data = ["dataset=synthetic", f"dataset.num_classes={info.num_classes}", f"dataset.channels={info.in_channels}",
                f"dataset.image_size={image_size or info.image_size}", "dataset.train_size=16", "dataset.test_size=8"]
    return cfg, [f"experiment={preset}", *rows, "budget=smoke", "logger=none", "trainer.progress=false",
                 "trainer.device=cpu", *data]


def table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m repeatnet_repro.catalog` and the `rr-list` console script (argv: overrides, e.g.
    paths.data_dir=DIR)."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    print("models (model=NAME):")
    print(table([[name, text] for name, text in options("model").items()], ["model", "what it is"]))
    print("\nsharing schemes (sharing=NAME):")
    print(table([[name, text] for name, text in options("sharing").items()], ["sharing", "what it shares"]))
    try:
        paths = OmegaConf.to_container(compose(argv).paths, resolve=True)
        data = {name: availability(name, paths) for name in options("dataset")}
    except Exception as err:  # a bad override: one line
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print("\ndata sets (dataset=NAME):")
    print(table([[name, d["status"], d["root"]] for name, d in data.items()], ["dataset", "data", "root"]))
    print("\nexperiment presets (experiment=NAME; make sweep EXP=NAME):")
    rows = []
    for preset in presets():
        info = preset_runs_and_data(preset)
        missing = [d for d in info["datasets"] if data[d]["status"] == ABSENT]
        rows.append([preset, info["runs"], *epochs(preset, info["datasets"]).values(), ",".join(info["datasets"]),
                     "yes" if not missing else f"no: {','.join(missing)} absent"])
    print(table(rows, ["experiment", "runs", *(f"ep@{b}" for b in BUDGETS), "data sets", "data present"]))
    print(f"\nGPU hours (make costs) divide by {gpu_throughput()[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
