"""Soft-sharing paper models (EXPERIMENTS.md §3): WRN / SWRN for CIFAR, WRN-50-2, the shortest-path net."""
from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from torch import nn

from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import shared_convs

CIFAR10 = DataInfo(10, 3, 32)
IMAGENET = DataInfo(1000, 3, 224)
GRID = DataInfo(1, 2, 32, task="segmentation")


def build(overrides, info):
    cfg = compose(list(overrides))
    return build_model(cfg.model, cfg.sharing, info)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def groups(model: nn.Module) -> dict:
    out = defaultdict(list)
    for layer in shared_convs(model):
        out[layer.group].append(layer)
    return out


def forward_backward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One training step's passes at batch 2; every trainable parameter must receive a gradient."""
    out = model(x)
    (out.square().mean() + model.sharing.regularization()).backward()
    assert torch.isfinite(out).all()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    return out


# --- WRN-L-w / SWRN-L-w-k ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth, per_group", [(10, 0), (16, 2), (28, 6), (40, 10)])
def test_wrn_stage_groups_hold_the_2n_minus_2_convs_of_blocks_2_to_n(depth, per_group):
    with torch.device("meta"):
        model = build(["model=wrn", f"model.depth={depth}", "model.widen=1"], CIFAR10)
    g = groups(model)
    sizes = {k: len(v) for k, v in g.items() if k is not None}
    assert sizes == ({} if per_group == 0 else {f"stage{s}": per_group for s in (1, 2, 3)})
    n = (depth - 4) // 6
    first = [s * n for s in range(3)]  # each stage's first block: both convs and the shortcut stay unshared
    expected = {"stem"} | {f"blocks.{b}.conv{i}" for b in first for i in (1, 2)} \
        | {f"blocks.{b}.shortcut" for b in first[1:]}  # WRN-L-1: stage 1 keeps 16 channels, no shortcut
    assert {layer.layer_name for layer in g[None]} == expected


def test_wrn_widths_shortcuts_and_head():
    model = build(["model=wrn", "model.depth=16", "model.widen=4", "model.dropout=0.3"], CIFAR10)
    convs = shared_convs(model)
    assert all(c.bias is None for c in convs)
    threes = [c.out_channels for c in convs if c.kernel_size == 3]
    assert threes == [16] + [64] * 4 + [128] * 4 + [256] * 4
    shortcuts = [(c.in_channels, c.out_channels, c.stride) for c in convs if c.kernel_size == 1]
    assert shortcuts == [(16, 64, 1), (64, 128, 2), (128, 256, 2)]
    assert sum(isinstance(m, nn.Dropout) and m.p == 0.3 for m in model.modules()) == 6
    assert model.classifier.in_features == 256


def test_wrn_dropout_acts_on_the_bn_relu_output_right_before_the_second_conv():
    """wide-resnet.lua: conv1 -> BN -> ReLU -> Dropout -> conv2, so dropout sees non-negative activations."""
    model = build(["model=wrn", "model.depth=10", "model.widen=1", "model.dropout=0.3"], CIFAR10).train()
    block = model.blocks[1]
    seen = {}
    block.dropout.register_forward_hook(lambda m, inp, out: seen.update(drop_in=inp[0], drop_out=out))
    block.conv2.register_forward_pre_hook(lambda m, inp: seen.update(conv2_in=inp[0]))
    block.bn2.register_forward_hook(lambda m, inp, out: seen.update(bn2_out=out))
    model(torch.randn(4, 3, 8, 8))
    assert torch.equal(seen["drop_in"], torch.relu(seen["bn2_out"])), "dropout takes the BN-ReLU output"
    assert seen["conv2_in"] is seen["drop_out"], "and feeds the second conv"
    assert (seen["drop_out"] == 0).float().mean() > (seen["drop_in"] == 0).float().mean()


@pytest.mark.parametrize("k", [1, 2])
def test_swrn_replaces_each_stage_group_by_k_templates_plus_coefficients(k):
    """SWRN-16-2-k: per stage, 2(N-1) = 2 layer weights become k templates and 2·k coefficients."""
    plain = n_params(build(["model=wrn", "model.depth=16", "model.widen=2"], CIFAR10))
    soft = n_params(build(["model=wrn", "model.depth=16", "model.widen=2", "sharing=soft",
                           f"sharing.templates={k}"], CIFAR10))
    layer = [w * w * 9 for w in (32, 64, 128)]
    assert soft == plain + sum((k - 2) * size + 2 * k for size in layer)


@pytest.mark.parametrize("sharing", [["sharing=none"], ["sharing=hard"], ["sharing=soft", "sharing.templates=1"],
                                     ["sharing=soft", "sharing.templates=2"]])
def test_wrn_forward_backward(sharing):
    model = build(["model=wrn", "model.depth=16", "model.widen=1", "model.dropout=0.3", *sharing], CIFAR10)
    assert forward_backward(model, torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("overrides, match", [
    (["model.depth=27"], "model.depth=27.*valid depths: 10, 16, 22, 28, 34, 40"),
    (["model.widen=0"], "model.widen=0"),
    (["model.dropout=1.0"], "model.dropout=1.0"),
])
def test_wrn_rejects_bad_options(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(["model=wrn", *overrides], CIFAR10)


# --- WRN-50-2 (ImageNet, Table 3) ------------------------------------------------------------------

def test_wrn50_2_has_the_twelve_groups_of_the_paper():
    with torch.device("meta"):
        model = build(["model=wrn_imagenet"], IMAGENET)
    g = groups(model)
    sizes = {k: len(v) for k, v in g.items() if k is not None}
    blocks = (3, 4, 6, 3)
    assert sizes == {**{f"stage{s}_c2b": n - 1 for s, n in enumerate(blocks, 1)},
                     **{f"stage{s}_b2b": n for s, n in enumerate(blocks, 1)},
                     **{f"stage{s}_b2c": n for s, n in enumerate(blocks, 1)}}
    for name, layers in g.items():
        if name is not None:
            assert len({layer.weight_shape for layer in layers}) == 1, name
    bottleneck = {s: 128 * 2 ** (s - 1) for s in (1, 2, 3, 4)}
    for s, b in bottleneck.items():
        assert g[f"stage{s}_b2b"][0].weight_shape == (b, b, 3, 3)
        assert g[f"stage{s}_c2b"][0].weight_shape == (b, 2 * b, 1, 1)
        assert g[f"stage{s}_b2c"][0].weight_shape == (2 * b, b, 1, 1)
    # unshared: stem, and each stage's first C->B conv and projection shortcut
    assert len(g[None]) == 1 + 4 * 2


@pytest.mark.parametrize("sharing", [["sharing=none"], ["sharing=soft", "sharing.templates=1"]])
def test_wrn50_forward_backward_on_a_small_image(sharing):
    model = build(["model=wrn_imagenet", "model.widen=1", *sharing], DataInfo(1000, 3, 32))
    assert forward_backward(model, torch.randn(2, 3, 32, 32)).shape == (2, 1000)


def test_wrn_imagenet_rejects_tiny_images():
    with pytest.raises(ConfigError, match="image_size=16"):
        build(["model=wrn_imagenet"], DataInfo(10, 3, 16))


# --- shortest paths (Fig. 5) ------------------------------------------------------------------------

def test_pathfinder_is_20_residual_3x3_layers_in_one_group_between_1x1_convs():
    model = build(["model=pathfinder"], GRID)
    g = groups(model)
    assert len(g["layers"]) == 20
    assert all(c.weight_shape == (32, 32, 3, 3) for c in g["layers"])
    assert [c.weight_shape for c in g[None]] == [(32, 2, 1, 1), (1, 32, 1, 1)]


@pytest.mark.parametrize("sharing", [["sharing=none"], ["sharing=hard"], ["sharing=soft", "sharing.templates=20"]])
def test_pathfinder_outputs_one_logit_per_pixel(sharing):
    model = build(["model=pathfinder", *sharing], GRID)  # fully convolutional: a 16x16 grid is as good
    assert forward_backward(model, torch.randn(2, 2, 16, 16)).shape == (2, 1, 16, 16)


def test_scnn_with_20_templates_has_as_many_weights_as_the_cnn_plus_coefficients():
    cnn = n_params(build(["model=pathfinder"], GRID))
    scnn = n_params(build(["model=pathfinder", "sharing=soft", "sharing.templates=20"], GRID))
    assert scnn == cnn + 20 * 20


def test_pathfinder_needs_a_segmentation_dataset():
    with pytest.raises(ConfigError, match="segmentation"):
        build(["model=pathfinder"], CIFAR10)
