"""ShardNet's models (EXPERIMENTS.md §2, ShardNet Tables 3-5): VGGNet family, CIFAR and ImageNet ResNets."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from torch import nn

from repeatnet_repro.analysis.counting import conv_params
from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.models.registry import MODELS as BUILDERS
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import SharedConv2d, shared_convs

REPO = Path(__file__).resolve().parent.parent

CIFAR10 = DataInfo(10, 3, 32)
CIFAR100 = DataInfo(100, 3, 32)
TINY = DataInfo(200, 3, 56)
IMAGENET = DataInfo(1000, 3, 224)

VGG = ["model=vggnet"]
E_VGG = VGG + ["model.uniform=true"]
S_VGG = E_VGG + ["model.pad_input=true"]
SL_VGG = S_VGG + ["model.blend=true"]
SLB_RESNET = ["model=resnet_cifar", "model.uniform=true", "model.pad_input=true"]
RESNET = ["model=resnet_imagenet"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: a single intra-op thread (a busy machine's thread pool costs seconds per step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(overrides, info, meta=False, parents=None):
    cfg = compose(list(overrides))
    if parents:  # a depth plan's child -> parent map (dotted layer names do not fit a command-line dict)
        cfg.sharing.parents = parents
    if meta:
        with torch.device("meta"):
            return build_model(cfg.model, cfg.sharing, info)
    return build_model(cfg.model, cfg.sharing, info)


def groups(model: nn.Module) -> dict:
    out = defaultdict(list)
    for layer in shared_convs(model):
        out[layer.group].append(layer)
    return out


def shapes(model: nn.Module, kernel: int) -> list:
    return [(c.in_channels, c.out_channels) for c in shared_convs(model) if c.kernel_size == kernel]


# --- VGGNet family (Table 3) ------------------------------------------------------------------------

def test_vggnet_defaults_to_vgg16():
    model = build(VGG, CIFAR10, meta=True)
    widths = [o for _, o in shapes(model, 3)]
    assert widths == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    assert shapes(model, 1) == []
    assert all(c.bias is not None for c in shared_convs(model))


@pytest.mark.parametrize("extra, layers", [([], 13), (["model.layers_per_block=2"], 10),
                                           (["model.layers_per_block=3"], 15)])
def test_e_vggnet_uses_n_channels_everywhere_but_the_image_input(extra, layers):
    model = build(E_VGG + ["model.width=16", *extra], CIFAR10, meta=True)
    assert shapes(model, 3) == [(3, 16)] + [(16, 16)] * (layers - 1)
    g = groups(model)
    assert [c.layer_name for c in g[None]] == ["features.conv1_1"]
    assert len(g["conv3_16"]) == layers - 1


def test_s_vggnet_pads_the_image_so_all_13_convs_form_one_group():
    model = build(S_VGG + ["model.width=16"], CIFAR10, meta=True)
    assert shapes(model, 3) == [(16, 16)] * 13
    assert {k: len(v) for k, v in groups(model).items()} == {"conv3_16": 13}


def test_padding_adds_zero_channels():
    """S-VGGNet's input is the image plus n-3 zero channels: weights on those channels never matter."""
    torch.manual_seed(0)
    model = build(S_VGG + ["model.width=8"], CIFAR10).eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    with torch.no_grad():
        shared_convs(model)[0].weight[:, 3:] += 1.0
    assert torch.allclose(model(x), before)


def test_sl_vggnet_blends_with_unshared_bias_free_1x1_convs_before_the_first_four_pools():
    model = build(SL_VGG + ["model.width=16"], CIFAR10, meta=True)
    names = list(model.features._modules)
    blends = [c for c in shared_convs(model) if c.kernel_size == 1]
    assert [(c.in_channels, c.out_channels, c.bias, c.group) for c in blends] == [(16, 16, None, None)] * 4
    for b in range(1, 5):
        assert names[names.index(f"blend{b}") + 1] == f"pool{b}"  # nothing (no BN/ReLU) in between
    assert "blend5" not in names


@pytest.mark.parametrize("info, fcs, flat", [(CIFAR10, [512, 512, 10], 1), (CIFAR100, [1024, 1024, 100], 1),
                                             (TINY, [2048, 200], 9)])
def test_vggnet_heads_follow_the_dataset(info, fcs, flat):
    """CIFAR-10 FC512-FC512-FC10, CIFAR-100 FC1024-FC1024-FC100, Tiny ImageNet FC2048-FC200 on n*3*3."""
    model = build(E_VGG + ["model.width=8"], info, meta=True)
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == fcs
    assert linears[0].in_features == 8 * flat
    assert sum(isinstance(m, nn.Dropout) for m in model.classifier) == len(fcs) - 1
    pools = sum(isinstance(m, nn.MaxPool2d) for m in model.features)
    assert pools == (4 if info is TINY else 5)


def test_an_explicit_head_serves_other_class_counts():
    model = build(E_VGG + ["model.width=8", "model.head=cifar100"], DataInfo(7, 3, 32), meta=True)
    assert [m.out_features for m in model.classifier if isinstance(m, nn.Linear)] == [1024, 1024, 7]


# --- ResNets for CIFAR (Table 4) --------------------------------------------------------------------

@pytest.mark.parametrize("b", [1, 3])
def test_eb_resnet_widens_stages_with_1x1_convs_and_max_pools(b):
    model = build(["model=resnet_cifar", "model.width=16", f"model.blocks={b}"], CIFAR10, meta=True)
    assert shapes(model, 3) == [(3, 16)] + [(16, 16)] * 2 * b + [(32, 32)] * 2 * b + [(64, 64)] * 2 * b
    assert shapes(model, 1) == [(16, 32), (32, 64)]
    body = list(model.body)
    for i, m in enumerate(body):
        if getattr(m, "kernel_size", None) == 1:
            assert m.bias is None and isinstance(body[i + 1], nn.MaxPool2d)
    assert {k: len(v) for k, v in groups(model).items() if k} == {f"conv3_{w}": 2 * b for w in (16, 32, 64)}
    assert model.classifier.in_features == 64


def test_slb_resnet_one_conv3_group_holds_the_padded_stem_and_every_block_conv():
    model = build(SLB_RESNET + ["model.width=8", "model.blocks=3"], CIFAR10, meta=True)
    g = groups(model)
    assert len(g["conv3_8"]) == 1 + 3 * 2 * 3
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in g[None]] == [(8, 8, 1)] * 2


# --- ResNet-34/50 for Tiny ImageNet and ImageNet (Table 5) ------------------------------------------

@pytest.mark.parametrize("info, kernel, stride, pool", [(TINY, 3, 1, False), (IMAGENET, 7, 2, True)])
def test_resnet_stem_follows_the_dataset(info, kernel, stride, pool):
    model = build(RESNET + ["model.width=8"], info, meta=True)
    stem = model.stem.conv
    assert (stem.in_channels, stem.kernel_size, stem.stride, stem.group) == (3, kernel, stride, None)
    assert any(isinstance(m, nn.MaxPool2d) for m in model.stem) == pool


def test_e_resnet34_has_four_basic_blocks_per_stage_and_doubling_transitions():
    model = build(RESNET + ["model.depth=34"], TINY, meta=True)
    assert shapes(model, 3)[1:] == [(w, w) for w in (64, 128, 256, 512) for _ in range(8)]
    assert shapes(model, 1) == [(64, 128), (128, 256), (256, 512)]


def test_e_resnet50_bottlenecks_expand_4x_and_start_after_a_1x1_to_256():
    model = build(RESNET + ["model.depth=50"], TINY, meta=True)
    assert (model.stem.expand.in_channels, model.stem.expand.out_channels) == (64, 256)
    transitions = [(m.in_channels, m.out_channels) for m in model.body if isinstance(m, SharedConv2d)]
    assert transitions == [(256, 512), (512, 1024), (1024, 2048)]
    assert shapes(model, 3)[1:] == [(w, w) for w in (64, 128, 256, 512) for _ in range(4)]
    assert model.classifier.in_features == 2048


def test_sl_resnet34_shares_one_conv3_across_all_16_blocks():
    model = build(RESNET + ["model.depth=34", "model.width=8", "model.uniform=true"], TINY, meta=True)
    g = groups(model)
    assert len(g["conv3_8"]) == 32
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in g[None]] == [(3, 8, 3)] + [(8, 8, 1)] * 3


def test_sl_resnet50_shares_one_whole_bottleneck_block():
    model = build(RESNET + ["model.depth=50", "model.width=8", "model.uniform=true"], TINY, meta=True)
    g = groups(model)
    assert {k: len(v) for k, v in g.items() if k} == {"reduce_8": 16, "conv3_8": 16, "expand_8": 16}
    assert [(c.in_channels, c.out_channels) for c in g[None] if c.kernel_size == 1] == [(8, 32)] + [(32, 32)] * 3


# --- |W_conv| as the paper counts it (EXPERIMENTS.md §2) ---------------------------------------------

def _e_resnet_cifar(p, b):
    return 28 * p + sum(2 * b * (9 * w * w + w) for w in (p, 2 * p, 4 * p)) + 2 * p * p + 8 * p * p


def _e_resnet_imagenet(depth, x):
    stages = (x, 2 * x, 4 * x, 8 * x)
    stem = 28 * x  # conv3 3 -> x with bias (Tiny ImageNet)
    if depth == 34:
        return stem + sum(8 * (9 * w * w + w) for w in stages) + sum(w * 2 * w for w in stages[:3])
    bottlenecks = sum(4 * (17 * w * w + w) for w in stages)
    return stem + 4 * x * x + bottlenecks + sum(4 * w * 8 * w for w in stages[:3])


@pytest.mark.parametrize("overrides, info, expected", [
    (E_VGG + ["sharing=none"], CIFAR10, lambda n: 28 * n + 12 * (9 * n * n + n)),
    (S_VGG + ["sharing=hard"], CIFAR10, lambda n: 9 * n * n + n),
    (SL_VGG + ["sharing=hard"], CIFAR10, lambda n: 9 * n * n + n + 4 * n * n),
    (SL_VGG + ["model.layers_per_block=2", "sharing=hard"], TINY, lambda n: 9 * n * n + n + 4 * n * n),
    (["model=resnet_cifar", "model.blocks=5", "sharing=none"], CIFAR10, lambda p: _e_resnet_cifar(p, 5)),
    (SLB_RESNET + ["model.blocks=5", "sharing=hard"], CIFAR10, lambda n: 9 * n * n + n + 2 * n * n),
    (RESNET + ["model.depth=34", "sharing=none"], TINY, lambda x: _e_resnet_imagenet(34, x)),
    (RESNET + ["model.depth=50", "sharing=none"], TINY, lambda x: _e_resnet_imagenet(50, x)),
    (RESNET + ["model.depth=34", "model.uniform=true", "sharing=hard"], TINY,
     lambda n: 28 * n + 9 * n * n + n + 3 * n * n),
    (RESNET + ["model.depth=50", "model.uniform=true", "sharing=hard"], TINY,
     lambda n: 28 * n + 4 * n * n + 17 * n * n + n + 3 * 16 * n * n),
], ids=["E-VGGNet", "S-VGGNet", "SL-VGGNet", "SL2-VGGNet-TI", "E5-ResNet", "SL5-ResNet", "E-ResNet-34",
        "E-ResNet-50", "SL-ResNet-34", "SL-ResNet-50"])
@pytest.mark.parametrize("n", [8, 24])
def test_conv_params_follow_the_papers_formulas(overrides, info, expected, n):
    """A shared conv (with its bias) counts once; 1x1 convs have no bias; BN and FC are not counted."""
    assert conv_params(build(overrides + [f"model.width={n}"], info, meta=True)) == expected(n)


# --- every model with every scheme: forward and backward at batch 2 ----------------------------------

MODELS = {  # small widths; the ImageNet-size ResNets on small images (conv3 stem: 16 px, conv7 stem: 32 px)
    "VGGNet*": (VGG + ["model.width=4"], CIFAR10),
    "E-VGGNet": (E_VGG + ["model.width=4"], CIFAR100),
    "S-VGGNet": (S_VGG + ["model.width=4"], CIFAR10),
    "SL3-VGGNet-TI": (SL_VGG + ["model.width=4", "model.layers_per_block=3"], TINY),
    "Eb-ResNet": (["model=resnet_cifar", "model.width=4", "model.blocks=1"], CIFAR10),
    "SLb-ResNet": (SLB_RESNET + ["model.width=4", "model.blocks=2"], CIFAR100),
    "E-ResNet-34-TI": (RESNET + ["model.depth=34", "model.width=4", "model.stem=conv3"], DataInfo(200, 3, 16)),
    "SL-ResNet-50-TI": (RESNET + ["model.depth=50", "model.width=4", "model.uniform=true", "model.stem=conv3"],
                        DataInfo(200, 3, 16)),
    "SL-ResNet-34-ImageNet": (RESNET + ["model.depth=34", "model.width=4", "model.uniform=true",
                                        "model.stem=conv7"], DataInfo(1000, 3, 32)),
}
SCHEMES = {"none": ["sharing=none"], "hard": ["sharing=hard"], "soft": ["sharing=soft", "sharing.templates=2"],
           "repeat": ["sharing=repeat", "sharing.plan=depth"]}
# RepeatNet depth plans: VGG convs carry RepeatNet's names (conv<block>_<i>), so its VGG-4 plan applies; for
# the ResNets, later stages' convs become psi_beta children of the first block's.
BASIC_PLAN = {"block2_1.conv1": "block1_1.conv1", "block3_1.conv2": "block1_1.conv2"}
PLANS = {"VGG": ["sharing=repeat_vgg4"], "Res": BASIC_PLAN,
         "SL-ResNet-50-TI": {"block2_1.reduce": "block1_1.reduce", "block3_1.conv": "block1_1.conv"}}


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("name", list(MODELS))
def test_forward_backward(name, scheme):
    overrides, info = MODELS[name]
    plan = PLANS.get(name) or PLANS["VGG" if "VGG" in name else "Res"]
    sharing, parents = SCHEMES[scheme], None
    if scheme == "repeat":
        sharing, parents = (plan, None) if isinstance(plan, list) else (sharing, plan)
    torch.manual_seed(0)
    model = build(overrides + sharing, info, parents=parents)
    assert model.sharing.scheme == scheme
    x = torch.randn(2, info.in_channels, info.image_size, info.image_size)
    out = model(x)
    assert out.shape == (2, info.num_classes) and torch.isfinite(out).all()
    (out.square().mean() + model.sharing.regularization()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_hard_sharing_makes_s_vggnet_one_conv_layer_with_13_batchnorms():
    """S-VGGNet applies one conv (weight and bias) 13 times; BatchNorm is never shared."""
    model = build(SL_VGG + ["model.width=8", "sharing=hard"], CIFAR10)
    shared = groups(model)["conv3_8"]
    assert len({c.weight.data_ptr() for c in shared}) == 1
    assert len({id(c.bias) for c in shared}) == 1
    assert len({id(m.weight) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}) == 13


# --- configurations that cannot be built fail early, naming the key ----------------------------------

@pytest.mark.parametrize("overrides, info, message", [
    (VGG + ["model.pad_input=true"], CIFAR10, "model.pad_input=true needs model.uniform=true"),
    (E_VGG + ["model.width=2", "model.pad_input=true"], CIFAR10, "more than model.width=2"),
    (E_VGG + ["model.layers_per_block=0"], CIFAR10, "model.layers_per_block=0"),
    (E_VGG, DataInfo(7, 3, 32), "set model.head"),
    (E_VGG + ["model.head=imagenet"], CIFAR10, "model.head=imagenet is not valid: model.head must be one of cifar10, cifar100, tinyimagenet"),
    (E_VGG, DataInfo(10, 1, 16), "image_size=16 is too small (need >= 32)"),
    (E_VGG + ["model.width=0"], CIFAR10, "model.width=0"),
    (["model=resnet_cifar", "model.blocks=0"], CIFAR10, "model.blocks=0"),
    (["model=resnet_cifar", "model.pad_input=true"], CIFAR10, "needs model.uniform=true"),
    (RESNET + ["model.depth=18"], TINY, "model.depth=18 is not valid: model.depth must be one of 34, 50"),
    (RESNET + ["model.stem=conv5"], TINY, "model.stem=conv5"),
    (RESNET + ["model.stem=conv7"], DataInfo(200, 3, 16), "image_size=16 is too small (need >= 32)"),
    (["model=resnet_cifar", "sharing=repeat", "sharing.plan=depth", "sharing.parent_depth=3"], CIFAR10,
     "sharing.parent_depth=3: the parent net must be a shallower member"),  # b = 3 is its own depth
])
def test_impossible_configurations_fail_with_the_key_named(overrides, info, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(overrides, info, meta=True)


# --- training from the paper's initial learning rate -------------------------------------------------

def first_losses(overrides, info, steps=8):
    """Train losses of the first SGD steps (the preset's optimiser) on random images and labels."""
    cfg = compose(list(overrides))
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.sharing, info)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.optimizer.lr, momentum=cfg.optimizer.momentum,
                          weight_decay=cfg.optimizer.weight_decay)
    g, losses = torch.Generator().manual_seed(0), []
    for _ in range(steps):
        x = torch.randn(32, info.in_channels, info.image_size, info.image_size, generator=g)
        loss = nn.functional.cross_entropy(model(x), torch.randint(0, info.num_classes, (32,), generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


SHARED_AT_PAPER_LR = {
    "SL7-ResNet": (["experiment=shardnet/fig8", "model.width=16"], DataInfo(10, 3, 16)),
    "SL-ResNet-50": (["experiment=shardnet/fig5", "model.width=8"], DataInfo(200, 3, 32)),
    "SL-VGGNet": (["experiment=shardnet/table6a", "model.width=32", "model.pad_input=true", "model.blend=true",
                   "sharing=hard"], CIFAR10),
}


def near_chance(losses, info) -> bool:
    """Random labels: a stable start stays within 1.2 nats of ln(classes)."""
    return max(losses) < float(torch.log(torch.tensor(float(info.num_classes)))) + 1.2


@pytest.mark.parametrize("name", list(SHARED_AT_PAPER_LR))
def test_shared_shardnets_take_the_papers_lr_from_the_first_step(name):
    overrides, info = SHARED_AT_PAPER_LR[name]
    assert near_chance(first_losses(overrides, info), info)


@pytest.mark.parametrize("name", ["SL7-ResNet", "SL-ResNet-50"])
def test_shared_resnets_need_their_identity_start_blocks(name):
    """With every block's last BN scale at 1 (He et al.'s init) the shared branch adds up and training blows up."""
    overrides, info = SHARED_AT_PAPER_LR[name]
    assert not near_chance(first_losses(overrides + ["model.zero_init_residual=false"], info), info)


def test_only_the_shared_resnet_rows_start_their_blocks_as_the_identity():
    """Measured (results/runs/curated/shardnet_identity_start): at Table 7a's lr the shared SLb-ResNet diverges with
    BN scale 1 and trains from 0; the unshared rows are standard He-init ResNets (the builders' default)."""
    import yaml

    rows = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "conf" / "row" / "shardnet").glob("*/*.yaml"))]
    resnets = [r for r in rows if {"override /model": "resnet_cifar"} in r["defaults"]
               or {"override /model": "resnet_imagenet"} in r["defaults"]]
    shared = [{"override /sharing": "hard"} in r["defaults"] for r in resnets]
    assert sum(shared) == 28 and len(resnets) - sum(shared) == 9
    assert [r["model"].get("zero_init_residual", False) for r in resnets] == shared
    assert all(BUILDERS.params(name, skip=1)["zero_init_residual"].default is False
               and compose([f"model={name}"]).model.zero_init_residual is False
               for name in ("resnet_cifar", "resnet_imagenet")), "the builders' and the group options' default"
