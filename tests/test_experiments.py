"""Every table and figure of the three papers is a runnable experiment preset (EXPERIMENTS.md §4).

`conf/experiment/<paper>/<item>.yaml` names a default row, sets the paper's protocol and sweeps rows x data
sets x seeds; `conf/row/<paper>/<item>/*.yaml` are its rows, each tagged with the paper's row label (the
compare/<backbone> presets share one folder of rows, conf/row/compare/: the backbone is the preset's). The
tests check the contract the report relies on (tags, row labels, the configurations whose parameter counts
results/paper/counts_*.csv reproduces) and run each preset once through the real entrypoint on a
synthetic stand-in of its data set.
"""
from __future__ import annotations

import csv
import shlex
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import REPO, read_summary, run_entrypoint
from repeatnet_repro.catalog import smoke_stand_in
from repeatnet_repro.config import compose

CONF = REPO / "conf"
PAPER_DIR = REPO / "results" / "paper"
PRESETS = sorted(f"{p.parent.name}/{p.stem}" for p in (CONF / "experiment").glob("*/*.yaml"))

#: EXPERIMENTS.md §4, with the tables the reported numbers split by data set (table6a/b, table7a/b), and the
#: framework's own cross-scheme benchmark (compare/<backbone>)
ITEMS = {
    "repeatnet": ["fig2", "table1", "table2", "table3"],
    "shardnet": ["fig2", "fig3", "fig4", "fig5", "fig7", "fig8", "table1a", "table1b", "table1c", "table1d",
                 "table2a", "table2b", "table6a", "table6b", "table7a", "table7b", "table8"],
    "softshare": ["appb", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "table1", "table2", "table3", "table4"],
    "compare": ["resnet_cifar", "vggnet", "wrn"],  # beyond the papers: every scheme at matched budgets
}

#: reported rows that are no training run: ratios and analyses derived from other rows' runs
DERIVED = {
    ("shardnet", "table2b", "SL-ResNet-34 (n=512) vs ResNet-50"),
    ("shardnet", "table8", "SL3-ResNet (n=128) vs ResNet*"),
    ("shardnet", "fig5", "SL-ResNet-50 (n=512), 0% pruned"),
    ("shardnet", "fig5", "SL-ResNet-50 (n=512), 60% pruned"),
    ("softshare", "fig4", "SWRN 28-10-4 (stage 2 folded)"),
    ("softshare", "fig6", "SWRN 40-8-8 (folded)"),
}

#: CPU stand-ins: a cheaper row of the preset, a smaller image where the architecture allows
#: (WRN, ShardNet ResNets and WRN-50-2 pool globally; VGGNet needs 2^pools pixels: 32, or 16 without
#: Tiny ImageNet's last pool), a narrower model. Everything else runs its default row at its data set's image size.
SMOKE = {
    "repeatnet/table3": {},
    "shardnet/fig4": {"row": "shardnet/fig4/sl7_resnet_n256_cifar100", "image_size": 8},
    "shardnet/fig5": {"image_size": 8, "model": ("model.width=64",)},  # n=512's 2048-wide bottlenecks: minutes
    "shardnet/fig7": {"row": "shardnet/fig7/sl2_vggnet_n512_tinyimagenet", "image_size": 16},
    "shardnet/fig8": {"image_size": 8},
    "shardnet/table1d": {"image_size": 16},
    "shardnet/table2a": {"image_size": 8},
    "shardnet/table2b": {"image_size": 8},
    "shardnet/table6b": {"image_size": 16},
    "shardnet/table8": {"image_size": 8},
    "softshare/table3": {"image_size": 32},
    **{f"softshare/{item}": {"image_size": 8}
       for item in ("appb", "fig3", "fig4", "fig6", "fig7", "fig8", "table1", "table2", "table4")},
}


def sweep(preset: str) -> dict:
    """The preset's hydra.sweeper.params, each as a list of strings."""
    params = OmegaConf.load(CONF / "experiment" / f"{preset}.yaml").hydra.sweeper.params
    return {k: [v.strip() for v in str(value).split(",")] for k, value in params.items()}


def paper_rows(kind: str) -> dict:
    """(paper, item) -> the rows of results/paper/<kind>_*.csv, in order."""
    out: dict = {}
    for path in sorted(PAPER_DIR.glob(f"{kind}_*.csv")):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                out.setdefault((r["paper"], r["item"]), []).append(r)
    return out


REPORTED = paper_rows("reported")
COUNTS = paper_rows("counts")
_COMPOSED: dict = {}


def composed(overrides: tuple):
    if overrides not in _COMPOSED:
        _COMPOSED[overrides] = compose(list(overrides))
    return _COMPOSED[overrides]


#: model keys that set an initialisation only: no count depends on them
INIT_ONLY = {"model.zero_init_residual"}


def settings(tokens: list) -> dict:
    """Model and sharing overrides as {key: value} (the architecture: init-only keys left out); no sharing
    means sharing=none."""
    out = {"sharing": "none"}
    for token in tokens:
        key, value = token.split("=", 1)
        if key.split(".")[0] in ("model", "sharing") and key not in INIT_ONLY:
            out[key] = yaml.safe_load(value)
    return out


def row_settings(row: str) -> dict:
    """A row file's model and sharing choices and keys, as the overrides that would set them."""
    node = OmegaConf.to_container(OmegaConf.load(CONF / "row" / f"{row}.yaml"))
    tokens = [f"{k.split('/')[-1]}={v}" for entry in node.get("defaults", []) for k, v in entry.items()]
    for group in ("model", "sharing"):
        tokens += [f"{group}.{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                   for k, v in node.get(group, {}).items()]
    return settings(tokens)


def as_dict(node) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def test_every_item_has_one_preset():
    assert PRESETS == sorted(f"{paper}/{item}" for paper, items in ITEMS.items() for item in items)


@pytest.mark.parametrize("preset", PRESETS)
def test_sweep_lists_exactly_the_rows_of_its_folder(preset):
    rows = sweep(preset)["row"]
    where = preset.split("/")[0] if preset.startswith("compare/") else preset
    folder = sorted(f"{where}/{p.stem}" for p in (CONF / "row" / where).glob("*.yaml"))
    assert sorted(rows) == folder and len(set(rows)) == len(rows)
    defaults = OmegaConf.load(CONF / "experiment" / f"{preset}.yaml").defaults
    assert defaults[0] == {"/row": rows[0]}, "the default row comes first, before the group overrides"
    assert "seed" in sweep(preset), "every sweep says its seeds"


@pytest.mark.parametrize("preset", PRESETS)
def test_every_row_composes_with_the_preset_tags_and_the_counted_config(preset):
    paper, item = preset.split("/")
    params = sweep(preset)
    labels = []
    for row in params["row"]:
        cfg = composed((f"experiment={preset}", f"row={row}"))
        assert (cfg.tags.paper, cfg.tags.item) == (paper, item)
        labels.append(cfg.tags.row)
        resolved = as_dict(cfg)
        assert resolved["name"].startswith(f"{paper}-{item}-{Path(row).name}-"), "the run name says paper/item/row"
        assert resolved["optimizer"]["lr"] > 0 and resolved["trainer"]["epochs"] >= 1
        counted = [r for r in COUNTS.get((paper, item), []) if r["row"] == cfg.tags.row]
        if counted:  # the row is the configuration whose count the paper prints
            assert row_settings(row) == settings(shlex.split(counted[0]["overrides"])), \
                f"{row}: differs from the overrides in counts_{paper}.csv"
    assert len(set(labels)) == len(labels), f"duplicate row labels: {labels}"
    reported = [r for r in REPORTED.get((paper, item), []) if r["quoted"] == "false"]
    runs_needed = {r["row"] for r in reported} - {row for (p, i, row) in DERIVED if (p, i) == (paper, item)}
    assert runs_needed <= set(labels), f"reported rows without a run: {sorted(runs_needed - set(labels))}"
    if runs_needed:  # items whose reported rows are all derived (fig4-6) name their own rows; a row whose printed
        # value the paper quotes from elsewhere (softshare Table 1's WRN 28-10) may still be one we train
        listed = {r["row"] for r in REPORTED.get((paper, item), [])}
        assert set(labels) <= listed, f"labels unknown to reported_{paper}.csv: {sorted(set(labels) - listed)}"
    for dataset in params.get("dataset", []):
        cfg = composed((f"experiment={preset}", f"dataset={dataset}"))
        assert cfg.dataset.name == dataset and as_dict(cfg.optimizer)["lr"] > 0


def row_label(row: str) -> str:
    return OmegaConf.load(CONF / "row" / f"{row}.yaml").tags.row


COMPRESSION_ROWS = [(preset, row) for preset in PRESETS for row in sweep(preset)["row"]
                    if any(r["quantity"] == "compression" and r["row"] == row_label(row)
                           for r in COUNTS.get(tuple(preset.split("/")), []))]


@pytest.mark.parametrize("preset, row", COMPRESSION_ROWS)
def test_a_rows_reference_model_is_the_one_the_papers_compression_is_counted_against(preset, row):
    """The trainer records C = |W_conv|(reference)/|W_conv| from the row's `reference` overrides; they must
    make the reference model of counts_<paper>.csv (whose C test_paper_counts checks against the paper)."""
    paper, item = preset.split("/")
    case = next(r for r in COUNTS[(paper, item)] if r["quantity"] == "compression" and r["row"] == row_label(row))
    reference = OmegaConf.load(CONF / "row" / f"{row}.yaml").reference
    made = {**row_settings(row), **{k: v for k, v in settings(list(reference)).items() if k in
                                    {t.split("=")[0] for t in reference}}}
    assert made == settings(shlex.split(case["reference"]))


def test_mixed_data_set_presets_take_each_data_sets_protocol():
    """ShardNet: CIFAR lr 0.05 for 200 epochs, Tiny ImageNet lr 0.01 (VGG) / 0.05 (ResNet) for 100."""
    cifar = composed(("experiment=shardnet/fig3", "dataset=cifar100"))
    tiny = composed(("experiment=shardnet/fig3", "dataset=tinyimagenet"))
    assert (cifar.optimizer.lr, cifar.trainer.epochs, cifar.schedule.factor) == (0.05, 200, 0.5)
    assert (tiny.optimizer.lr, tiny.trainer.epochs, tiny.schedule.factor) == (0.01, 100, 0.1)
    resnet = composed(("experiment=shardnet/fig8", "row=shardnet/fig8/sl_resnet_50_n512_tinyimagenet"))
    assert (resnet.dataset.name, resnet.optimizer.lr, resnet.trainer.epochs) == ("tinyimagenet", 0.05, 100)


def test_protocols_follow_the_papers():
    t1 = composed(("experiment=softshare/table1",))
    assert t1.optimizer.nesterov and list(t1.schedule.milestones) == [60, 120, 160] and t1.trainer.batch_size == 128
    assert sweep("softshare/table1")["seed"] == ["range(5)"], "Table 1 is a mean of 5 runs"
    rn = composed(("experiment=repeatnet/table1",))
    assert (rn.trainer.batch_size, rn.trainer.grad_clip, list(rn.schedule.milestones)) == (64, 1.0, [60, 120, 180])
    rot = composed(("experiment=repeatnet/table3",))
    assert (rot.optimizer.name, rot.schedule.gamma, rot.trainer.epochs) == ("adam", 0.8, 30)
    assert (rot.trainer.batch_size, rot.trainer.grad_clip) == (64, 1.0), "their Trainer clips every data set"
    assert {k: rot.dataset[k] for k in ("rotate", "upsample", "vflip", "flip", "normalize")} == \
        {"rotate": True, "upsample": 3, "vflip": True, "flip": True, "normalize": False}, "their main.py pipeline"
    assert composed(("experiment=softshare/table4",)).dataset.cutout == 16
    for row in sweep("softshare/table4")["row"]:  # 'results differ from Table 2 solely due to cutout'
        assert composed(("experiment=softshare/table4", f"row={row}")).model.dropout == 0.3
    imagenet = composed(("experiment=softshare/table3",)).dataset
    assert (imagenet.color_jitter, imagenet.lighting) == (0.4, 0.1), "fb.resnet.torch"
    resnet50 = ["model.depth=50", "model.width=64", "model.uniform=false", "sharing=none"]
    for row in sweep("shardnet/table2a")["row"]:  # every C of Table 2a is relative to ResNet-50*
        assert list(OmegaConf.load(CONF / "row" / f"{row}.yaml").reference) == resnet50, row
    fig8 = composed(("experiment=softshare/fig8",))
    assert list(fig8.sharing.lsm_epochs) == [1, 5, 25, 50, 200]


def smoke_overrides(preset: str, run_dir: Path) -> tuple:
    """The smoke command line: the preset at budget=smoke on a tiny stand-in of its data set (catalog)."""
    extra = SMOKE.get(preset, {})
    cfg, stand_in = smoke_stand_in(preset, run_dir.parent / "grids", extra.get("image_size"), extra.get("row"))
    return cfg, (*stand_in, *extra.get("model", ()), "trainer.batch_size=8", f"hydra.run.dir={run_dir}")


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_at_smoke_budget_and_records_its_tags(preset, tmp_path):
    run_dir = tmp_path / preset.replace("/", "-")
    cfg, overrides = smoke_overrides(preset, run_dir)
    proc = run_entrypoint(*overrides, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed"
    paper, item = preset.split("/")
    assert summary["tags"] == {"paper": paper, "item": item, "row": cfg.tags.row}
    if cfg.reference:  # rows the paper gives a compression C (or parameter fraction) for
        assert summary["compression"] == pytest.approx(summary["reference"]["params_conv"] / summary["params_conv"])
    analyses = summary.get("analysis", {})
    assert set(analyses) == set(cfg.get("analysis") or {})
    assert not [name for name, result in analyses.items() if "error" in result]
