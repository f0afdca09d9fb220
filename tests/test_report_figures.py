"""The papers' figures rebuilt from run records: what each one plots, read off fixture records.

ShardNet Fig. 2/3 and soft sharing Fig. 3 put our runs (mean ± std over seeds) beside the paper's
reported points; RepeatNet Fig. 2 plots params / params(VGG11); soft sharing Fig. 4/6/7/8 draw layer
similarity matrices (and the folding result); ShardNet Fig. 4/7/8 mark the 32 smallest and largest
blending weights of every output channel; ShardNet Fig. 5 plots accuracy against the fraction pruned.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from repeatnet_repro.report import load_metrics, load_reported, load_runs
from repeatnet_repro.report.benchmark import benchmark_points, render_benchmark_tables
from repeatnet_repro.report.figures import render_figures
from repeatnet_repro.report.figures.blending import blending_figure, extremes
from repeatnet_repro.report.figures.lsm import LSM_FIGURES, lsm_figure
from repeatnet_repro.report.figures.matched import matched_figure
from repeatnet_repro.report.figures.pruning import pruning_figure
from repeatnet_repro.report.figures.tradeoff import TRADEOFFS, tradeoff_figure

REPORTED = load_reported(REPO / "results" / "paper")
TRADEOFF = {f"{d.paper}/{d.item}": d for d in TRADEOFFS}
LSM = {d.item: d for d in LSM_FIGURES}


def write_run(root: Path, name: str, paper: str, item: str, row: str, *, dataset="cifar10", seed=0, acc=90.0,
              status="completed", sharing="hard", **extra) -> Path:
    """A run record as the trainer writes it (summary.json, metrics.jsonl), budget 'short' of 20 epochs."""
    run = root / name
    run.mkdir(parents=True)
    summary = {"status": status, "tags": {"paper": paper, "item": item, "row": row}, "sharing": sharing,
               "dataset": dataset, "seed": seed, "budget": {"name": "short", "epochs": 20},
               "final": {"test_acc": acc}, **extra}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "test_acc": acc}) + "\n")
    return run


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def chessboard(layers: int) -> list:
    """An LSM where layers i and i+2 are alike (soft sharing Fig. 7's typical pattern)."""
    return [[1.0 if (i - j) % 2 == 0 else 0.1 for j in range(layers)] for i in range(layers)]


def banks(layers: int) -> dict:
    return {f"stage{s}": {"layers": [f"s{s}.l{i}" for i in range(layers)], "lsm": chessboard(layers),
                          "coefficients": [[1.0, 0.0]] * layers} for s in (1, 2, 3)}


def container(ax, label):
    """The (x, y) data of the errorbar series `label` drawn on `ax`."""
    hit = [c for c in ax.containers if c.get_label() == label]
    assert hit, f"no series {label!r} among {[c.get_label() for c in ax.containers]}"
    line = hit[0].lines[0]
    return list(line.get_xdata()), list(line.get_ydata())


# ---------------------------------------------------------------- accuracy vs a size measure

@pytest.fixture
def shardnet_fig3(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "s64a", "shardnet", "fig3", "S-VGGNet (n=64)", seed=0, acc=80.0, compression=400.0)
    write_run(root, "s64b", "shardnet", "fig3", "S-VGGNet (n=64)", seed=1, acc=82.0, compression=400.0)
    write_run(root, "sl64", "shardnet", "fig3", "SL-VGGNet (n=64)", acc=84.0, compression=275.0)
    write_run(root, "vgg", "shardnet", "fig3", "VGGNet*", acc=93.0, sharing="none")  # its own reference: C = 1
    write_run(root, "dead", "shardnet", "fig3", "SL-VGGNet (n=128)", acc=10.0, status="failed", compression=69.0)
    return load_runs(root)


def test_accuracy_vs_compression_plots_our_mean_and_std_over_seeds(shardnet_fig3):
    fig, points = tradeoff_figure(TRADEOFF["shardnet/fig3"], shardnet_fig3, REPORTED)
    ours = points[points.source == "ours"].set_index("row")
    assert ours.loc["S-VGGNet (n=64)", "y"] == pytest.approx(81.0)
    assert ours.loc["S-VGGNet (n=64)", "std"] == pytest.approx(np.sqrt(2.0))  # sample std of 80 and 82
    assert ours.loc["S-VGGNet (n=64)", "n"] == 2
    assert ours.loc["VGGNet*", "x"] == 1.0
    assert "SL-VGGNet (n=128)" not in ours.index  # a failed run has no final result
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_title() == "CIFAR-10"  # one panel per data set that has runs
    assert ax.get_xscale() == "log"
    assert container(ax, "S-VGGNet (ours)") == ([400.0], [81.0])
    assert "shardnet/fig3" in fig._suptitle.get_text() and "budget: short 20ep" in fig._suptitle.get_text()
    plt.close(fig)


def test_accuracy_vs_compression_overlays_the_tables_values_against_vggnet(shardnet_fig3):
    """Fig. 3 plots Tables 1a/6's models at C = |W_conv|(VGGNet*) / |W_conv| (Table 1b's convention)."""
    fig, points = tradeoff_figure(TRADEOFF["shardnet/fig3"], shardnet_fig3, REPORTED)
    paper = points[points.source == "paper"].set_index("row")
    assert paper.loc["S-VGGNet (n=64)", "y"] == 85.5  # Table 1a, CIFAR-10
    assert paper.loc["S-VGGNet (n=64)", "x"] == pytest.approx(14.7e6 / 37e3)
    assert paper.loc["SL-VGGNet (n=32)", "y"] == 74.7
    assert paper.loc["VGGNet*", "x"] == 1.0 and paper.loc["VGGNet*", "y"] == 93.9  # Table 1b
    # the same convention gives Table 1b's printed C = 4.3 for the 3.4M-weight SL-VGGNet n=512
    assert paper.loc["SL-VGGNet (n=512)", "x"] == pytest.approx(4.3, abs=0.05)
    assert set(paper.index) == {f"{v}-VGGNet (n={n})" for v in ("S", "SL") for n in (32, 64, 128, 256, 512)} | {
        "VGGNet*"}  # no LegoNet or SL2/SL3 rows, no CIFAR-100 values on the CIFAR-10 panel
    xs, ys = container(fig.axes[0], "SL-VGGNet — paper (reported)")
    assert ys == [94.5, 93.5, 91.3, 87.7, 74.7]  # sorted by C: n = 512 .. 32
    assert xs == pytest.approx([14.7e6 / w for w in (3.4e6, 852e3, 213e3, 53.3e3, 13.3e3)])
    plt.close(fig)


def test_parameter_efficiency_plots_error_vs_params_beside_table2_and_the_quoted_models(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "a", "softshare", "fig3", "SWRN 28-10-2*", dataset="cifar100", acc=80.0, params=17_100_000)
    fig, points = tradeoff_figure(TRADEOFF["softshare/fig3"], load_runs(root), REPORTED)
    ours = points[points.source == "ours"].iloc[0]
    assert (ours.x, ours.y, ours.dataset) == (pytest.approx(17.1), pytest.approx(20.0), "cifar100")
    assert container(fig.axes[0], "SWRN 28-w-2 — paper (reported)")[1] == [18.66, 18.37, 17.75]
    quoted = points[points.series == "quoted"].set_index("row")
    assert quoted.loc["ResNeXt-29 16x64", "x"] == pytest.approx(68.0)
    assert quoted.loc["ResNeXt-29 16x64", "y"] == 17.31
    plt.close(fig)


def test_depth_scaling_plots_accuracy_vs_params_over_vgg11_params_without_paper_points(tmp_path):
    root = tmp_path / "runs"
    for depth, params in ((6, 1_000_000), (11, 9_000_000)):
        write_run(root, f"vgg{depth}", "repeatnet", "fig2", f"VGG{depth}", acc=88.0, sharing="none",
                  params=params, reference_params=9_000_000)
    write_run(root, "rep6", "repeatnet", "fig2", "RepeatNet VGG6", acc=90.0, sharing="repeat",
              params=1_100_000, reference_params=9_000_000)
    write_run(root, "rep6-100", "repeatnet", "fig2", "RepeatNet VGG6", dataset="cifar100", acc=60.0,
              params=1_100_000, reference_params=9_000_000)
    fig, points = tradeoff_figure(TRADEOFF["repeatnet/fig2"], load_runs(root), REPORTED)
    assert [ax.get_title() for ax in fig.axes] == ["CIFAR-10", "CIFAR-100"]
    assert container(fig.axes[0], "VGG-n (ours)")[0] == pytest.approx([1 / 9, 1.0])
    assert container(fig.axes[0], "RepeatNet VGG-n (ours)") == ([pytest.approx(1.1 / 9)], [90.0])
    assert (points.source == "ours").all()
    plt.close(fig)


# ---------------------------------------------------------------- layer similarity matrices

@pytest.fixture
def folded_swrn(tmp_path):
    root = tmp_path / "runs"
    run = write_run(root, "swrn", "softshare", "fig4", "SWRN 28-10-4", sharing="soft")
    write_json(run / "artifacts" / "analysis" / "lsm.json", {"epoch": 20, "banks": banks(6)})
    groups = {f"stage{s}": {"layers": [f"s{s}.l{i}" for i in range(6)], "tied_to": list(range(6)),
                            "distinct_layers": 6} for s in (1, 3)}
    groups["stage2"] = {"layers": [f"s2.l{i}" for i in range(6)], "tied_to": [0, 1, 0, 1, 0, 1], "distinct_layers": 2}
    points = [{"threshold": t, "layers": 18, "distinct_layers": 14, "test_acc": 95.0, "test_error": 5.0 + d,
               "delta_error": d, "groups": groups} for t, d in ((0.95, 0.0), (0.8, 0.05), (0.5, 3.0))]
    write_json(run / "artifacts" / "analysis" / "fold.json", {"epoch": 20, "baseline": {"test_error": 5.0},
                                                            "points": points, "lsm": {}})
    return load_runs(root)


def test_lsm_panels_per_stage_with_the_folding_at_similarity_08_beside_the_papers(folded_swrn):
    fig = lsm_figure(LSM["fig4"], folded_swrn, REPORTED)
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["stage1: 6 → 6 layers", "stage2: 6 → 2 layers",
                                                 "stage3: 6 → 6 layers"]
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in panels)
    assert len(fig.axes) == 4  # three stages and one colour bar
    assert len(panels[1].patches) == 2 * 4 and not panels[0].patches  # layers 3..6 tied: both cells outlined
    title = fig._suptitle.get_text()
    assert "18 -> 14 shared layers, Δerror = +0.05 pp (paper: +0.02 pp)" in title  # the 0.8 point
    assert "softshare/fig4" in title and "budget: short 20ep" in title
    plt.close(fig)


def test_lsm_rows_are_seeds_for_fig7_and_saved_epochs_for_fig8(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1):
        run = write_run(root, f"seed{seed}", "softshare", "fig7", "SWRN 40-8-8", seed=seed, sharing="soft")
        write_json(run / "artifacts" / "lsm" / "epoch_020.json", {"epoch": 20, "banks": banks(10)})
    run = write_run(root, "epochs", "softshare", "fig8", "SWRN 40-8-8", sharing="soft")
    for epoch in (1, 5, 20):
        write_json(run / "artifacts" / "lsm" / f"epoch_{epoch:03d}.json", {"epoch": epoch, "banks": banks(10)})
    runs = load_runs(root)
    fig7 = lsm_figure(LSM["fig7"], runs, REPORTED)
    assert [ax.get_ylabel() for ax in fig7.axes if ax.get_ylabel()][:2] == ["seed 0 (epoch 20)", "seed 1 (epoch 20)"]
    fig8 = lsm_figure(LSM["fig8"], runs, REPORTED)
    assert [ax.get_ylabel() for ax in fig8.axes if ax.images and ax.get_ylabel()] == [
        "epoch 1", "epoch 5", "epoch 20"]
    assert sum(bool(ax.images) for ax in fig8.axes) == 9  # 3 epochs x 3 stages
    plt.close("all")


# ---------------------------------------------------------------- blending maps and pruning

def test_blending_mask_marks_exactly_the_32_smallest_and_32_largest_magnitudes_of_each_row():
    rng = np.random.default_rng(0)
    magnitudes = np.stack([rng.permutation(100) + 1.0 for _ in range(5)])
    weights = magnitudes * rng.choice([-1.0, 1.0], size=magnitudes.shape)  # the sign must not matter
    mask = extremes(weights)
    assert ((mask == -1).sum(axis=1) == 32).all() and ((mask == 1).sum(axis=1) == 32).all()
    assert (mask[magnitudes <= 32] == -1).all() and (mask[magnitudes > 68] == 1).all()
    assert (mask[(magnitudes > 32) & (magnitudes <= 68)] == 0).all()
    narrow = extremes(np.arange(1.0, 11.0)[None, :])  # 10 inputs: at most half of them each
    assert narrow.tolist() == [[-1] * 5 + [1] * 5]


def test_blending_map_has_one_panel_per_1x1_layer_in_network_order(tmp_path):
    root = tmp_path / "runs"
    run = write_run(root, "sl", "shardnet", "fig4", "SL3-VGGNet (n=512), CIFAR-10")
    (run / "artifacts" / "analysis").mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(run / "artifacts" / "analysis" / "blending_weights.npz",
             **{f"features.blend{i}": rng.normal(size=(64, 64)).astype(np.float32) for i in range(4)})
    fig = blending_figure("fig4", load_runs(root))
    assert [ax.get_title() for ax in fig.axes] == [f"features.blend{i} (64×64)" for i in range(4)]
    weights, overlay = fig.axes[0].images
    assert weights.get_clim()[0] == -weights.get_clim()[1]  # diverging, centred at 0
    rgba = overlay.get_array()
    assert (rgba[..., 2] == 1.0).sum(axis=1).tolist() == [32] * 64  # blue: the 32 smallest |w| per row
    assert (rgba[..., 0] == 1.0).sum(axis=1).tolist() == [32] * 64  # red: the 32 largest
    plt.close(fig)


def test_pruning_curve_x_values_are_the_fractions_with_the_papers_60_percent_marked(tmp_path):
    root = tmp_path / "runs"
    fractions = [0.0, 0.2, 0.4, 0.6, 0.8]
    run = write_run(root, "artifact", "shardnet", "fig5", "SL-ResNet-50 (n=512)", dataset="tinyimagenet")
    points = [{"fraction": f, "pruned": 0, "test_acc": 50.0 - 10 * f, "test_top5": 70.0} for f in fractions]
    write_json(run / "artifacts" / "analysis" / "prune_blending.json",
               {"epoch": 20, "layers": ["a"], "weights": 9, "points": points})
    write_run(root, "summary-only", "shardnet", "fig5", "SL-ResNet-50 (n=512)", seed=1, dataset="tinyimagenet",
              analysis={"prune_blending": {"points": [{"fraction": f, "test_acc": 40.0} for f in (0.0, 0.5)]}})
    fig, plotted = pruning_figure(load_runs(root), REPORTED)
    assert plotted == {"SL-ResNet-50 (n=512) (seed 0)": fractions, "SL-ResNet-50 (n=512) (seed 1)": [0.0, 0.5]}
    ax = fig.axes[0]
    top1 = [line for line in ax.lines if line.get_label() == "SL-ResNet-50 (n=512) (seed 0) top-1"][0]
    assert list(top1.get_xdata()) == fractions and list(top1.get_ydata()) == [50.0, 48.0, 46.0, 44.0, 42.0]
    marked = [line for line in ax.lines if line.get_label().startswith("paper:")][0]
    assert list(marked.get_xdata()) == [0.6, 0.6]
    assert "C = 1.4 at 0% → C = 2.6 at 60%" in ax.texts[0].get_text()
    plt.close(fig)


# ---------------------------------------------------------------- the cross-scheme benchmark

def write_compare_run(root: Path, name: str, backbone: str, row: str, sharing: str, acc: float, *, seed=0,
                      params=200_000, macs=30_000_000, match=None, status="completed") -> Path:
    """A compare/<backbone> run: 2 epochs of 30 batches of 128 (3,840 training images each)."""
    run = write_run(root, name, "compare", backbone, row, sharing=sharing, seed=seed, acc=acc, status=status,
                    params=params, macs=macs, **({"match": match} if match else {}))
    epochs = [{"epoch": e, "test_acc": acc, "train_images_per_s": 512.0, "train_seconds": 7.5} for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    return run


def matched_on(measure: str, value: int, ratio: float = 1.0) -> dict:
    return {"measure": measure, "knob": "model.width", "value": value, "ratio": ratio, "target": 200_000,
            "achieved": 200_000, "reference": "row=compare/x/none", "tolerance": 0.05}


@pytest.fixture
def compare_runs(tmp_path):
    root = tmp_path / "runs"
    for seed, acc in ((0, 80.0), (1, 82.0)):
        write_compare_run(root, f"none{seed}", "resnet_cifar", "none", "none", acc, seed=seed)
        write_compare_run(root, f"hard{seed}", "resnet_cifar", "hard @ params", "hard", acc + 4, seed=seed,
                          params=195_000, macs=110_000_000, match=matched_on("params", 31))
    write_compare_run(root, "rep", "resnet_cifar", "repeat @ macs", "repeat", 70.0, params=51_000,
                      match=matched_on("macs", 8))
    write_compare_run(root, "dead", "resnet_cifar", "soft @ params", "soft", 10.0, status="failed")
    write_compare_run(root, "vgg", "vggnet", "none", "none", 75.0, params=1_250_000, macs=20_000_000)
    return root


def test_benchmark_points_are_each_rows_mean_and_std_over_seeds_with_what_it_matched(compare_runs):
    points = benchmark_points(load_runs(compare_runs), load_metrics(compare_runs)).set_index(["backbone", "row"])
    hard = points.loc[("resnet_cifar", "hard @ params")]
    assert (hard.scheme, hard.matched, hard.width, hard.n) == ("hard", "params", "model.width=31", 2)
    assert hard.acc == pytest.approx(85.0) and hard["std"] == pytest.approx(np.sqrt(2.0))
    none = points.loc[("resnet_cifar", "none")]
    assert (none.matched, none.width, none.params, none.macs) == ("reference", "", 200_000, 30_000_000)
    assert points.loc[("resnet_cifar", "repeat @ macs")].matched == "macs"
    assert ("resnet_cifar", "soft @ params") not in points.index  # a failed run has no result
    assert set(points.train_images) == {2 * 3840}
    assert list(points.index.get_level_values(0)) == ["resnet_cifar"] * 3 + ["vggnet"]  # BACKBONES order


def test_benchmark_figure_plots_accuracy_against_params_and_macs_one_panel_per_backbone(compare_runs):
    points = benchmark_points(load_runs(compare_runs), load_metrics(compare_runs))
    fig = matched_figure(points, "cifar10")
    assert fig.axes[0].get_title() == "CIFAR ResNet (resnet_cifar)" and fig.axes[1].get_title() == "VGGNet (vggnet)"
    by_params, by_macs = fig.axes[0], fig.axes[2]  # top row: |W|, bottom row: MACs of the same runs
    assert by_params.get_xscale() == by_macs.get_xscale() == "log"
    assert container(by_params, "hard, matched |W|") == ([195_000], [85.0])
    assert container(by_macs, "hard, matched |W|") == ([110_000_000], [85.0])
    repeat = [c for c in by_macs.containers if c.get_label() == "repeat, matched MACs"][0].lines[0]
    assert repeat.get_markerfacecolor() == "white" and repeat.get_marker() == "D"  # hollow: matched MACs
    title = fig._suptitle.get_text()
    assert "mean ± std over seeds" in title and "budget: short 20ep, 7,680 train images per run" in title
    plt.close(fig)


def test_benchmark_table_gives_the_same_numbers_per_backbone_and_row(compare_runs, tmp_path):
    paths = render_benchmark_tables(load_runs(compare_runs), load_metrics(compare_runs), tmp_path / "tables")
    assert [p.name for p in paths] == ["compare_benchmark_cifar10.md"]
    text = paths[0].read_text()
    hard = next(line for line in text.splitlines() if "hard @ params" in line)
    assert [c.strip() for c in hard.split(" | ")] == ["| CIFAR ResNet", "hard @ params", "matched \\|W\\|",
                                                      "model.width=31", "195.0K", "110.00M", "85.00 ± 1.41 (n=2) |"]
    assert "(preset)" in text  # the reference's width is the preset's
    assert "7,680 train images per run" in text
    table = pd.read_csv(paths[0].with_suffix(".csv"))
    assert list(table.row) == ["none", "hard @ params", "repeat @ macs", "none"]


# ---------------------------------------------------------------- all of them, and none

def test_every_figure_family_writes_png_and_pdf_and_absent_runs_draw_nothing(tmp_path, shardnet_fig3, folded_swrn):
    root = tmp_path / "runs"  # shardnet_fig3 and folded_swrn both wrote here
    run = write_run(root, "sl", "shardnet", "fig7", "SL3-VGGNet (n=512), CIFAR-10")
    (run / "artifacts" / "analysis").mkdir(parents=True)
    np.savez(run / "artifacts" / "analysis" / "blending_weights.npz", b=np.eye(8, dtype=np.float32))
    run = write_run(root, "prune", "shardnet", "fig5", "SL-ResNet-50 (n=512)")
    write_json(run / "artifacts" / "analysis" / "prune_blending.json",
               {"points": [{"fraction": 0.0, "test_acc": 50.0}, {"fraction": 0.5, "test_acc": 49.0}]})
    out = tmp_path / "figures"
    write_compare_run(root, "cmp", "wrn", "none", "none", 80.0)
    paths = render_figures(load_runs(root), load_metrics(root), REPORTED, out)
    figures = {"shardnet_fig3_tradeoff", "softshare_fig4_lsm", "shardnet_fig7_blending", "shardnet_fig5_pruning",
               "compare_benchmark_cifar10"}
    assert figures <= {p.stem for p in paths}
    for stem in figures:
        assert (out / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{stem}.pdf").read_bytes()[:4] == b"%PDF"
    assert not [p for p in paths if p.stem.startswith(("shardnet_fig2", "repeatnet_fig2", "softshare_fig3",
                                                       "softshare_fig7", "shardnet_fig4"))]  # no runs: no figure
    (tmp_path / "empty").mkdir()
    assert render_figures(load_runs(tmp_path / "empty"), load_metrics(tmp_path / "empty"), REPORTED, out) == []
