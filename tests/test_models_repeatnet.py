"""RepeatNet's models as the paper and EXPERIMENTS.md §1 define them: VGG-n, ResNet-16, rot-MNIST CNN, RE-CNN."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import SharedConv2d, shared_convs

CIFAR10 = DataInfo(10, 3, 32)
CIFAR100 = DataInfo(100, 3, 32)
ROTMNIST = DataInfo(10, 1, 29)


def build(overrides, info):
    cfg = compose(list(overrides))
    return build_model(cfg.model, cfg.sharing, info)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_backward(model: nn.Module, info: DataInfo) -> torch.Tensor:
    """One training step's passes at batch 2; every trainable parameter must receive a gradient."""
    out = model(torch.randn(2, info.in_channels, info.image_size, info.image_size))
    (out.square().mean() + model.sharing.regularization()).backward()
    assert torch.isfinite(out).all()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    return out


def conv_macs(model: nn.Module, info: DataInfo) -> int:
    """Multiply-accumulates of the convolutions for one image (eval mode: e2cnn caches its filters)."""
    model.eval()
    x = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
    with torch.no_grad():
        model(x)
        with FlopCounterMode(display=False) as counter:
            model(x)
    return sum(v for op, v in counter.get_flop_counts()["Global"].items() if "convolution" in str(op)) // 2


def short_names(model: nn.Module):
    return [layer.layer_name.rsplit(".", 1)[-1] for layer in shared_convs(model)]


# --- VGG-n (Fig. 2) -------------------------------------------------------------------------------

VGG_LAYOUTS = {  # EXPERIMENTS.md §1: VGG-n keeps the first n-1 convs of VGG-11, 'M' = max-pool
    4: "64 64 M 128 M",
    5: "64 64 M 128 128 M",
    6: "64 64 M 128 128 M 256 M",
    7: "64 64 M 128 128 M 256 256 M",
    8: "64 64 M 128 128 M 256 256 M 512 M",
    9: "64 64 M 128 128 M 256 256 M 512 512 M",
    10: "64 64 M 128 128 M 256 256 M 512 512 M 512 M",
    11: "64 64 M 128 128 M 256 256 M 512 512 M 512 512 M",
}


@pytest.mark.parametrize("depth", sorted(VGG_LAYOUTS))
def test_vgg_n_has_n_minus_1_biased_convs_with_bn_relu_pools_and_one_linear(depth):
    model = build(["model=vgg", f"model.depth={depth}"], CIFAR10)
    layout = []
    for m in model.features:
        if isinstance(m, SharedConv2d):
            assert m.bias is not None and m.kernel_size == 3 and m.padding == 1
            layout.append(str(m.out_channels))
        elif isinstance(m, nn.MaxPool2d):
            layout.append("M")
        else:
            assert isinstance(m, (nn.BatchNorm2d, nn.ReLU))
    assert " ".join(layout) == VGG_LAYOUTS[depth]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == int(VGG_LAYOUTS[depth].split()[-2])
    blocks = VGG_LAYOUTS[depth].split("M")[:-1]
    assert short_names(model) == [f"conv{b}_{i}" for b, block in enumerate(blocks, 1)
                                  for i in range(1, len(block.split()) + 1)]


def test_vgg6_has_six_percent_of_vgg11_parameters():
    """Abstract: 'as low as 6% of optimization parameters of the deeper one' (VGG6 vs VGG11)."""
    with torch.device("meta"):
        ratio = n_params(build(["model=vgg", "model.depth=6"], CIFAR10)) / n_params(build(["model=vgg"], CIFAR10))
    assert round(100 * ratio) == 6


# Parent of each child layer, EXPERIMENTS.md §1 (RepeatNet VGG-n keeps VGG-11's topology).
REPEAT_VGG_PARENTS = {
    4: {c: "conv2_1" for c in ("conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2", "conv5_1", "conv5_2")},
    5: {"conv3_1": "conv2_1", "conv3_2": "conv2_2", "conv4_1": "conv2_1", "conv4_2": "conv2_2",
        "conv5_1": "conv2_1", "conv5_2": "conv2_2"},
    6: {"conv3_2": "conv2_1", "conv4_1": "conv2_2", "conv4_2": "conv3_1", "conv5_1": "conv2_2",
        "conv5_2": "conv3_1"},
    7: {"conv4_1": "conv2_1", "conv4_2": "conv2_2", "conv5_1": "conv3_1", "conv5_2": "conv3_2"},
    8: {"conv4_2": "conv3_1", "conv5_1": "conv3_2", "conv5_2": "conv4_1"},
    9: {"conv5_1": "conv4_1", "conv5_2": "conv4_2"},
    10: {"conv5_2": "conv5_1"},
}


@pytest.mark.parametrize("base", sorted(REPEAT_VGG_PARENTS))
def test_repeatnet_vgg_n_costs_vgg_n_plus_child_biases_bn_and_betas(base):
    """Children add their own bias and BN and 2·g_out·g_in betas (none for a plain copy); weights come free."""
    with torch.device("meta"):
        model = build(["model=vgg", "model.depth=11", f"sharing=repeat_vgg{base}"], CIFAR10)
        vgg_n = build(["model=vgg", f"model.depth={base}"], CIFAR10)
    assert len(shared_convs(model)) == 10
    shapes = {name: layer.weight_shape for name, layer in zip(short_names(model), shared_convs(model))}
    extra = 0
    for child, parent in REPEAT_VGG_PARENTS[base].items():
        (o, i, _, _), (po, pi, _, _) = shapes[child], shapes[parent]
        tiles = (o // po) * (i // pi)
        extra += 3 * o + (0 if tiles == 1 else 2 * tiles)
    fc_gain = (512 - int(VGG_LAYOUTS[base].split()[-2])) * CIFAR10.num_classes
    assert n_params(model) == n_params(vgg_n) + extra + fc_gain


def test_vgg_convs_start_as_pytorchs_nn_conv2d():
    """The authors' VGG-n are nn.Conv2d with its default init: weights kaiming_uniform(a=sqrt 5), i.e.
    std 1/sqrt(3 fan_in), biases U(+-1/sqrt(fan_in)) (Kaiming-normal would be sqrt(6) times wider)."""
    torch.manual_seed(0)
    for layer in shared_convs(build(["model=vgg"], CIFAR10)):
        torch.manual_seed(1)
        default = nn.Conv2d(layer.in_channels, layer.out_channels, 3, padding=1)
        assert layer.weight.std().item() == pytest.approx(default.weight.std().item(), rel=0.05), layer.layer_name
        bound = 1 / (9 * layer.in_channels) ** 0.5
        assert layer.bias.abs().max() <= bound and layer.bias.abs().max() > 0.9 * bound


def test_repeatnet_vgg_parents_keep_that_init_and_children_start_with_a_zero_bias():
    """Their RepeatNet VGGs: parents are nn.Conv2d, children Conv2dRepeat (bias initialised to zero)."""
    torch.manual_seed(0)
    model = build(["model=vgg", "sharing=repeat_vgg5"], CIFAR10)
    layers = {name: layer for name, layer in zip(short_names(model), shared_convs(model))}
    for name in ("conv1_1", "conv1_2", "conv2_1", "conv2_2"):  # plain layers and the two parents
        bound = 1 / (9 * layers[name].in_channels) ** 0.5
        assert layers[name].weight.abs().max() <= bound and layers[name].weight.abs().max() > 0.9 * bound
        assert layers[name].bias.abs().max() > 0
    for child in REPEAT_VGG_PARENTS[5]:
        assert torch.count_nonzero(layers[child].bias) == 0


@pytest.mark.parametrize("sharing", ["none", "hard", "soft", "repeat_vgg4"])
def test_vgg11_forward_backward(sharing):
    model = build(["model=vgg", f"sharing={sharing}"], CIFAR10)
    assert forward_backward(model, CIFAR10).shape == (2, 10)


def test_vgg_same_shape_convs_form_one_group():
    groups = {layer.layer_name.rsplit(".", 1)[-1]: layer.group for layer in shared_convs(build(["model=vgg"], CIFAR10))}
    assert [n for n, g in groups.items() if g == "w512"] == ["conv4_2", "conv5_1", "conv5_2"]
    assert groups["conv1_1"] is None and groups["conv4_1"] is None


@pytest.mark.parametrize("overrides, match", [
    (["model.depth=3"], "model.depth=3 is not valid: model.depth must be an integer >= 4 and <= 11"),
    (["model.depth=12"], "model.depth=12"),
])
def test_vgg_rejects_undefined_depths(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(["model=vgg", *overrides], CIFAR10)


def test_vgg_rejects_images_too_small_for_its_pools():
    with pytest.raises(ConfigError, match="image_size=16 is too small"):
        build(["model=vgg"], DataInfo(10, 3, 16))


# --- ResNet-16 with width multiplier k (Tables 1, 2) ------------------------------------------------

def test_resnet16_layout_bias_and_bn_init():
    model = build(["model=resnet16", "model.k=2"], CIFAR10)
    convs = shared_convs(model)
    stem, block_convs = convs[0], convs[1:]
    assert (stem.in_channels, stem.out_channels, stem.bias) == (3, 16, None)
    assert all(c.bias is not None for c in block_convs)
    three = [c.out_channels for c in block_convs if c.kernel_size == 3]
    assert three == [32] * 4 + [64] * 4 + [128] * 4  # 3 stages x 2 blocks x 2 convs at 16k, 32k, 64k
    assert [c.stride for c in block_convs if c.kernel_size == 3] == [1] * 4 + [2, 1, 1, 1] * 2
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.allclose(bn.bias, torch.full_like(bn.bias, 0.01))
    assert model.classifier.in_features == 128


@pytest.mark.parametrize("k", [2, 4])
def test_resnet16_declares_the_k1_shape_as_base_of_every_widened_conv(k):
    base = {c.layer_name: c.weight_shape[:2] for c in shared_convs(build(["model=resnet16"], CIFAR10))}
    wide = {c.layer_name: c for c in shared_convs(build(["model=resnet16", f"model.k={k}"], CIFAR10))}
    extra = sorted(set(wide) - set(base))
    assert extra == ["blocks.0.shortcut.0"]  # k > 1: stage 1 needs a 1x1 shortcut 16 -> 16k
    assert wide["blocks.0.shortcut.0"].base_channels == (16, 16)
    assert wide["stem"].weight_shape[:2] == base["stem"]  # the stem is never widened
    for name, shape in base.items():
        if name != "stem":
            assert wide[name].base_channels == shape


def test_resnet16_extra_fc_adds_exactly_one_hidden_layer():
    for info in (CIFAR10, CIFAR100):
        plain, h = n_params(build(["model=resnet16"], info)), 111
        c = info.num_classes
        assert n_params(build(["model=resnet16", f"model.hidden={h}"], info)) == plain - 65 * c + 65 * h + (h + 1) * c


def test_resnet16_width_follows_k_rep_of_the_repeat_scheme():
    cfg = compose(["model=resnet16", "sharing=repeat", "sharing.plan=width", "sharing.k_rep=4"])
    assert cfg.model.k == 4
    assert compose(["model=resnet16"]).model.k == 1


@pytest.mark.parametrize("sharing", [["sharing=none"], ["sharing=hard"], ["sharing=soft"],
                                     ["sharing=repeat", "sharing.plan=width", "sharing.k_rep=2"]])
def test_resnet16_forward_backward(sharing):
    model = build(["model=resnet16", "model.k=2", *sharing], CIFAR100)
    assert forward_backward(model, CIFAR100).shape == (2, 100)


def test_resnet16_repeat_keeps_the_k1_conv_weights():
    """Width scaling: the parents are the k = 1 convs (+ the stage-1 shortcut k = 1 lacks), so |W| barely grows."""
    k1 = n_params(build(["model=resnet16"], CIFAR10))
    k4 = n_params(build(["model=resnet16", "sharing=repeat", "sharing.plan=width", "sharing.k_rep=4"], CIFAR10))
    assert k1 < k4 < 1.05 * k1


@pytest.mark.parametrize("overrides, match", [(["model.k=0"], "model.k=0"), (["model.hidden=0"], "model.hidden=0")])
def test_resnet16_rejects_bad_options(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(["model=resnet16", *overrides], CIFAR10)


# --- rot-MNIST: vanilla CNN, RE-CNN C4/C8/C16, FLOP-matched RepeatNet (Table 3) --------------------

RECNN_WIDTHS = {4: [64, 96, 128, 128, 192, 256], 8: [88, 136, 184, 184, 272, 360],
                16: [128, 192, 256, 256, 384, 512]}


@pytest.fixture(scope="module")
def recnns():
    return {n: build(["model=recnn", f"model.N={n}"], ROTMNIST) for n in RECNN_WIDTHS}


def test_recnn_expanded_widths_are_half_the_e2cnn_model(recnns):
    for n, model in recnns.items():
        convs = shared_convs(model)  # SharedR2Conv: their basis coefficients live in the sharing banks
        assert [c.out_type.size for c in convs] == RECNN_WIDTHS[n]
        assert all(c.bias is None for c in convs)


@pytest.mark.parametrize("n", [4, 8, 16])
def test_repeatnet_variant_matches_the_recnn_conv_flops(recnns, n):
    """Table 3: C4 and C16 conv MACs equal the RE-CNN's, C8 within 1 %."""
    repeat = build([f"model=cnn_rotmnist_repeat_c{n}", "sharing=repeat", "sharing.plan=width",
                    "sharing.remainder=true"], ROTMNIST)
    ours, theirs = conv_macs(repeat, ROTMNIST), conv_macs(recnns[n], ROTMNIST)
    if n == 8:
        assert abs(ours - theirs) / theirs < 0.01
    else:
        assert ours == theirs


#: parameters of the authors' NormalCNN and RepCNN (transmuteAI/RepeatNet@37fa797, models/group_equivariant.py
#: baseline, c4_rep, c8_rep, c16_rep), counted by instantiating them
AUTHORS_ROTMNIST_PARAMS = {"cnn_rotmnist": 340_309, "cnn_rotmnist_repeat_c4": 352_987,
                           "cnn_rotmnist_repeat_c8": 360_963, "cnn_rotmnist_repeat_c16": 372_179}


@pytest.mark.parametrize("model", sorted(AUTHORS_ROTMNIST_PARAMS))
def test_rotmnist_cnns_have_the_authors_parameter_counts(model):
    """Every Conv2dRepeat owns a bias, so the RepeatNet variants carry 864 / 1,220 / 1,728 conv biases."""
    sharing = [] if model == "cnn_rotmnist" else ["sharing=repeat", "sharing.plan=width", "sharing.remainder=true"]
    built = build([f"model={model}", *sharing], ROTMNIST)
    assert n_params(built) == AUTHORS_ROTMNIST_PARAMS[model]
    biases = [c.bias for c in shared_convs(built)]
    if model == "cnn_rotmnist":
        assert biases == [None] * 6
    else:
        assert all(b is not None and torch.count_nonzero(b) == 0 for b in biases)


def test_vanilla_cnn_layout():
    model = build(["model=cnn_rotmnist"], ROTMNIST)
    convs = shared_convs(model)
    assert [c.out_channels for c in convs] == [22, 33, 45, 45, 67, 90]
    assert [(c.kernel_size, c.padding) for c in convs] == [(7, 1), (5, 2), (5, 2), (5, 2), (5, 2), (5, 0)]
    assert all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 2
    model.eval()
    assert model.features(torch.zeros(1, 1, 29, 29)).shape[-2:] == (2, 2)


@pytest.mark.parametrize("overrides", [["model=cnn_rotmnist"],
                                       ["model=cnn_rotmnist", "model.widths=[22,33,45,45,45,90]",
                                        "model.base_widths=[22,33,45,45,45,90]", "sharing=hard"],
                                       ["model=cnn_rotmnist", "model.widths=[22,33,45,45,45,90]",
                                        "model.base_widths=[22,33,45,45,45,90]", "sharing=soft"],
                                       ["model=cnn_rotmnist", "model.widths=[30,40,50,50,70,95]", "sharing=repeat",
                                        "sharing.plan=width", "sharing.remainder=true"]])
def test_rotmnist_cnns_forward_backward(overrides):
    assert forward_backward(build(overrides, ROTMNIST), ROTMNIST).shape == (2, 10)


def test_recnn_forward_backward(recnns):
    assert forward_backward(recnns[4].train(), ROTMNIST).shape == (2, 10)


@pytest.mark.parametrize("model, sharing, message", [
    ("cnn_rotmnist", "hard", "every sharing group of this model holds a single layer (w45 = features.10)"),
    ("recnn", "soft", "every sharing group of this model holds a single layer (regular32_k5 = features.10)"),
    ("recnn", "repeat", "layer features.0 cannot be a RepeatNet parent or child: it is an e2cnn R2Conv"),
])
def test_the_default_layouts_refuse_the_schemes_they_cannot_take(model, sharing, message):
    """Their convs all differ in shape (the one w -> w conv has no partner); psi_beta breaks steerability."""
    with pytest.raises(ConfigError, match=re.escape(f"sharing={sharing}: {message}")):
        build([f"model={model}", f"sharing={sharing}"], ROTMNIST)


@pytest.mark.parametrize("overrides, match", [
    (["model=cnn_rotmnist", "model.widths=[22,33]"], "model.widths"),
    (["model=cnn_rotmnist", "model.base_widths=[90,90,90,90,90,91]"], "must not exceed"),
    (["model=recnn", "model.N=0"], "model.N=0"),
])
def test_rotmnist_rejects_bad_options(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build(overrides, ROTMNIST)


def test_rotmnist_rejects_too_small_images():
    with pytest.raises(ConfigError, match="image_size >= 24"):
        build(["model=cnn_rotmnist"], DataInfo(10, 1, 16))
