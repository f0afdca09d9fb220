"""RepeatNet: children psi_beta(parent), tiled g_out x g_in with one beta pair per tile; width and depth plans."""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from repeatnet_repro.analysis.counting import conv_params
from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import SharedConv2d, apply_sharing, psi, shared_convs


def one_layer(child, parent, kernel=1, **options):
    """A single conv of shape `child` (out, in) whose width-plan parent has shape `parent`."""
    torch.manual_seed(0)
    model = nn.Sequential(SharedConv2d(child[1], child[0], kernel, bias=True, base_channels=parent))
    return apply_sharing(model, {"name": "repeat", "plan": "width", **options})


def test_psi_is_eq_1():
    x, b1, b2 = torch.tensor([-1.5, 0.0, 2.0]), torch.tensor(0.7), torch.tensor(-1.3)
    assert torch.allclose(psi(x, b1, b2), b1 * x / (1 + torch.exp(b2 * x)))


def test_worked_example_of_experiments_md():
    """Parent (1,1,1,1) = 1.0 -> child (2,2,1,1), b1 = [1,2,3,4], b2 = [0,0,-1,-1]."""
    model = one_layer((2, 2), (1, 1))
    bank = model.sharing.banks["0"]
    tiling = bank.tilings["0"]
    with torch.no_grad():
        bank.parent.fill_(1.0)
        tiling.b1.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        tiling.b2.copy_(torch.tensor([0.0, 0.0, -1.0, -1.0]))
    child = model[0].weight[:, :, 0, 0]
    assert torch.allclose(child, torch.tensor([[0.5, 1.0], [2.1932, 2.9242]]), atol=1e-4)


def test_tile_a_b_is_the_whole_parent_transformed_by_pair_a_times_g_in_plus_b():
    model = one_layer((6, 6), (2, 3), kernel=3)  # g_out = 3, g_in = 2
    bank = model.sharing.banks["0"]
    t, parent, child = bank.tilings["0"], bank.parent, model[0].weight
    assert (t.g_out, t.g_in) == (3, 2) and t.b1.shape == (6,)
    for a in range(3):
        for b in range(2):
            block = child[2 * a:2 * a + 2, 3 * b:3 * b + 3]
            assert torch.allclose(block, psi(parent, t.b1[a * 2 + b], t.b2[a * 2 + b]))


def test_an_exact_shape_child_is_a_plain_copy_without_betas():
    model = nn.Sequential(SharedConv2d(8, 8, 3), SharedConv2d(8, 8, 3))
    apply_sharing(model, {"name": "repeat", "plan": "depth", "parents": {"1": "0"}})
    assert model[1].weight is model[0].weight
    assert len(model.sharing.banks["0"].tilings) == 0


def test_remainder_rows_then_columns_are_psi_of_the_first_ones_with_their_own_pair():
    model = one_layer((5, 7), (2, 3), remainder=True)  # 5 = 2*2 + 1 rows, 7 = 2*3 + 1 columns
    t = model.sharing.banks["0"].tilings["0"]
    child = model[0].weight
    assert child.shape == (5, 7, 1, 1) and (t.r_out, t.r_in) == (1, 1)
    assert torch.allclose(child[4, :6], psi(child[0, :6], t.rows[0], t.rows[1]))
    assert torch.allclose(child[:, 6], psi(child[:, 0], t.cols[0], t.cols[1]))
    assert ((t.rows > 0) & (t.rows < 1)).all() and ((t.cols > 0) & (t.cols < 1)).all()  # U(0, 1)


def test_beta_init_is_xavier_uniform_over_the_tiles_and_parents_are_xavier_uniform():
    model = one_layer((64, 64), (8, 4), kernel=3)  # R = 8 * 16 = 128 tiles
    bank = model.sharing.banks["0"]
    bound = math.sqrt(6 / (1 + 128))
    for b in (bank.tilings["0"].b1, bank.tilings["0"].b2):
        assert b.abs().max() <= bound and b.abs().max() > 0.8 * bound
    fan = 9 * (8 + 4)
    assert bank.parent.abs().max() <= math.sqrt(6 / fan) and bank.parent.abs().max() > 0.9 * math.sqrt(6 / fan)


def test_a_depth_plan_parent_keeps_its_layers_init_and_children_start_with_a_zero_bias():
    """Depth plans (the VGGs): the parent is an ordinary layer (nn.Conv2d in the authors' code), the children
    Conv2dRepeat layers whose bias starts at zero; width-plan parents belong to their child and are Xavier."""
    torch.manual_seed(0)
    model = nn.Sequential(SharedConv2d(16, 16, 3, bias=True, init="torch_default"),
                          SharedConv2d(16, 32, 3, bias=True, init="torch_default"))
    apply_sharing(model, {"name": "repeat", "plan": "depth", "parents": {"1": "0"}})
    parent = model.sharing.banks["0"].parent
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform(a=sqrt 5) = U(+-1/sqrt(fan_in)); Xavier would reach 0.096
    assert parent.abs().max() <= bound and parent.abs().max() > 0.9 * bound
    assert model[0].bias.abs().max() > 0 and torch.count_nonzero(model[1].bias) == 0


def test_identity_beta_init_starts_every_child_as_a_copy():
    model = one_layer((4, 6), (2, 3), beta_init="identity")
    parent = model.sharing.banks["0"].parent
    assert torch.allclose(model[0].weight, parent.repeat(2, 2, 1, 1))


class Widened(nn.Module):
    """A width-scaled net: stem 3->8 (plain), conv 8k->8k... declared with its k = 1 shapes."""

    def __init__(self, k):
        super().__init__()
        self.stem = SharedConv2d(3, 8, 3, padding=1)
        self.a = SharedConv2d(8, 8 * k, 3, padding=1, bias=True, base_channels=(8, 8))
        self.b = SharedConv2d(8 * k, 8 * k, 3, padding=1, bias=True, base_channels=(8, 8))
        self.skip = SharedConv2d(8, 8 * k, 1, bias=True, base_channels=(8, 8))

    def forward(self, x):
        x = self.stem(x)
        return self.b(torch.relu(self.a(x))) + self.skip(x)


def test_width_plan_parameter_count_by_hand():
    """k = 3: parents keep the k = 1 sizes; betas 2·g_out·g_in per child; each child its own bias (8k)."""
    model = apply_sharing(Widened(3), {"name": "repeat", "plan": "width", "k_rep": 3})
    stem = 3 * 8 * 9
    parents = 8 * 8 * 9 + 8 * 8 * 9 + 8 * 8
    betas = 2 * (3 * 1) + 2 * (3 * 3) + 2 * (3 * 1)
    biases = 3 * 24
    assert sum(p.numel() for p in model.parameters()) == stem + parents + betas + biases
    out = model(torch.randn(2, 3, 6, 6))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_width_plan_k1_is_the_plain_network():
    model = apply_sharing(Widened(1), {"name": "repeat", "plan": "width"})
    assert list(model.sharing.banks) == ["unshared"]


def test_depth_plan_parameter_count_by_hand_and_names_by_suffix():
    model = nn.Sequential()
    model.add_module("block", nn.Sequential())
    for name, (o, i) in {"conv1": (4, 2), "conv2": (8, 4), "conv3": (8, 8), "conv4": (4, 2)}.items():
        model.block.add_module(name, SharedConv2d(i, o, 3, bias=True))
    apply_sharing(model, {"name": "repeat", "plan": "depth",
                          "parents": {"conv2": "conv1", "block.conv3": "conv1", "conv4": "conv1"}})
    # conv1 owns 4x2x3x3; conv2 = (2, 2) tiles, conv3 = (2, 4) tiles, conv4 a copy; four own biases
    assert sum(p.numel() for p in model.parameters()) == 72 + 2 * 4 + 2 * 8 + (4 + 8 + 8 + 4)
    assert model.sharing.summary()["block_conv1"]["tiles"] == {
        "block.conv1": None, "block.conv2": [2, 2, 0, 0], "block.conv3": [2, 4, 0, 0], "block.conv4": None}


# EXPERIMENTS.md §1: RepeatNet VGG-n, child <- parent (g_out, g_in); None = plain copy
VGG_TABLE = {
    4: {"conv2_2": ("conv2_1", (1, 2)), "conv3_1": ("conv2_1", (2, 2)), "conv3_2": ("conv2_1", (2, 4)),
        "conv4_1": ("conv2_1", (4, 4)), "conv4_2": ("conv2_1", (4, 8)), "conv5_1": ("conv2_1", (4, 8)),
        "conv5_2": ("conv2_1", (4, 8))},
    5: {"conv3_1": ("conv2_1", (2, 2)), "conv3_2": ("conv2_2", (2, 2)), "conv4_1": ("conv2_1", (4, 4)),
        "conv4_2": ("conv2_2", (4, 4)), "conv5_1": ("conv2_1", (4, 8)), "conv5_2": ("conv2_2", (4, 4))},
    6: {"conv3_2": ("conv2_1", (2, 4)), "conv4_1": ("conv2_2", (4, 2)), "conv4_2": ("conv3_1", (2, 4)),
        "conv5_1": ("conv2_2", (4, 4)), "conv5_2": ("conv3_1", (2, 4))},
    7: {"conv4_1": ("conv2_1", (4, 4)), "conv4_2": ("conv2_2", (4, 4)), "conv5_1": ("conv3_1", (2, 4)),
        "conv5_2": ("conv3_2", (2, 2))},
    8: {"conv4_2": ("conv3_1", (2, 4)), "conv5_1": ("conv3_2", (2, 2)), "conv5_2": ("conv4_1", (1, 2))},
    9: {"conv5_1": ("conv4_1", (1, 2)), "conv5_2": ("conv4_2", None)},
    10: {"conv5_2": ("conv5_1", None)},
}


@pytest.mark.parametrize("base", sorted(VGG_TABLE))
def test_vgg_depth_plans_are_the_maps_of_the_paper(base):
    cfg = compose(["model=vgg", f"sharing=repeat_vgg{base}"])
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.sharing, DataInfo(10, 3, 32))
    short = lambda name: name.rsplit(".", 1)[-1]  # noqa: E731
    found = {}
    for bank in model.sharing.summary().values():
        if bank["scheme"] != "repeat":
            continue
        parent, *children = bank["layers"]  # a depth bank lists its parent first
        for child in children:
            tiles = bank["tiles"][child]
            found[short(child)] = (short(parent), None if tiles is None else tuple(tiles[:2]))
    assert found == VGG_TABLE[base]


@pytest.mark.parametrize("options, message", [
    ({"plan": "depth", "parents": {"conv9": "conv1"}},
     "no conv layer named 'conv9'; valid names (or unique dotted suffixes of them): a.conv1, a.conv2, b.conv1"),
    ({"plan": "depth", "parents": {"conv2": "conv1"}}, "'conv1' is ambiguous, it names ['a.conv1', 'b.conv1']"),
    ({"plan": "depth", "parents": {"b.conv1": "a.conv2"}},
     "layer b.conv1 (12, 8, 3, 3) as a child of a.conv2 (8, 8, 3, 3): 12/8 = 1.5 is not whole; use widths that "
     "are multiples of the parent's (8, 8), or set sharing.remainder=true"),
    ({"plan": "depth", "parents": {"a.conv1": "b.conv1"}},
     "a child must be at least as wide as its parent"),
    ({"plan": "depth", "parents": {"a.conv2": "a.conv1", "b.conv1": "a.conv2"}, "remainder": True},
     "a.conv2 is the parent of b.conv1 but itself a child of a.conv1"),
    ({"plan": "depth"}, "plan=depth needs sharing.parents"),
    ({"plan": "depth", "parents": {"a.conv2": "a.conv1"}, "k_rep": 2}, "k_rep=2 only applies to sharing.plan=width"),
    ({"plan": "width"}, "no conv layer of this model declares base_channels"),
    ({"plan": "width", "parents": {"a.conv2": "a.conv1"}},
     "sharing.parents and sharing.parent_depth are only read by sharing.plan=depth"),
    ({"plan": "diagonal"}, "sharing.plan=diagonal is not valid: sharing.plan must be one of width, depth"),
    ({"k_rep": 0}, "sharing.k_rep=0"),
])
def test_impossible_plans_fail_naming_layers_shapes_and_what_would_work(options, message):
    model = nn.Sequential()
    model.add_module("a", nn.Sequential())
    model.add_module("b", nn.Sequential())
    model.a.add_module("conv1", SharedConv2d(4, 8, 3))
    model.a.add_module("conv2", SharedConv2d(8, 8, 3))
    model.b.add_module("conv1", SharedConv2d(8, 12, 3))
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_sharing(model, {"name": "repeat", **options})


def test_a_kernel_mismatch_and_an_unread_k_rep_fail():
    model = nn.Sequential(SharedConv2d(4, 8, 3), SharedConv2d(8, 16, 1))
    with pytest.raises(ConfigError, match=r"kernel sizes differ \(1 vs 3\)"):
        apply_sharing(model, {"name": "repeat", "plan": "depth", "parents": {"1": "0"}})
    with pytest.raises(ConfigError, match="sharing.k_rep=4, but no layer is wider than its base shape"):
        apply_sharing(Widened(1), {"name": "repeat", "k_rep": 4})


def test_resnet16_widths_follow_k_rep_and_non_multiples_need_the_remainder_rule():
    cfg = compose(["model=resnet16", "sharing=repeat", "sharing.k_rep=2"])
    model = build_model(cfg.model, cfg.sharing, DataInfo(10, 3, 32))
    assert max(c.out_channels for c in shared_convs(model)) == 128
    cfg = compose(["model=cnn_rotmnist_repeat_c4", "sharing=repeat", "sharing.remainder=false"])
    with pytest.raises(ConfigError, match=r"64/22 = 2.91 is not whole.*sharing.remainder=true"):
        build_model(cfg.model, cfg.sharing, DataInfo(10, 1, 29))


def test_the_rot_mnist_cnns_declare_the_remainder_rule_so_the_default_repeat_config_builds_them():
    """Their widths are explicit lists (the RE-CNNs' expanded widths): sharing.remainder=null follows the layers."""
    cfg = compose(["model=cnn_rotmnist_repeat_c4", "sharing=repeat"])
    assert cfg.sharing.remainder is None
    with torch.device("meta"):
        model = build_model(cfg.model, cfg.sharing, DataInfo(10, 1, 29))
    tiles = {name: t for bank in model.sharing.summary().values() for name, t in bank.get("tiles", {}).items()}
    assert tiles["features.0"] == [2, 1, 20, 0]  # 64 = 2 * 22 + 20 rows, 1 input channel


@pytest.mark.parametrize("model, info", [
    ("convnet", DataInfo(10, 3, 32)), ("wrn", DataInfo(10, 3, 32)), ("vgg", DataInfo(10, 3, 32)),
    ("resnet_cifar", DataInfo(10, 3, 32)), ("cnn_rotmnist", DataInfo(10, 1, 29)),
    ("pathfinder", DataInfo(1, 1, 9, task="segmentation")),
])
def test_k_rep_widens_every_width_scaled_model_from_its_k1_parents_and_k_rep_1_is_the_model_itself(model, info):
    def build(*overrides):
        cfg = compose([f"model={model}", *overrides])
        with torch.device("meta"):
            return build_model(cfg.model, cfg.sharing, info)

    plain, base = build("sharing=none"), build("sharing=repeat")
    wide, widened = build("sharing=repeat", "sharing.k_rep=3"), build("model.width_mult=3")
    assert list(base.sharing.banks) == ["unshared"]  # k_rep = 1: no child, the plain model
    assert conv_params(base) == conv_params(plain)
    assert [c.weight_shape for c in shared_convs(wide)] == [c.weight_shape for c in shared_convs(widened)]
    parents = [b.parent.shape for b in wide.sharing.banks.values() if hasattr(b, "parent")]
    assert parents and all(tuple(p[:2]) in {tuple(c.weight_shape[:2]) for c in shared_convs(plain)} for p in parents)
    assert conv_params(plain) <= conv_params(wide) < conv_params(widened) / 2


def test_children_are_computed_from_a_channels_last_parent():
    model = apply_sharing(Widened(2), {"name": "repeat", "plan": "width", "k_rep": 2})
    x = torch.randn(1, 3, 6, 6)
    before = model(x)
    model.to(memory_format=torch.channels_last)
    assert torch.allclose(model(x.to(memory_format=torch.channels_last)), before, atol=1e-5)


def depth_map(model, overrides, info=DataInfo(10, 3, 32)):
    """child -> parent (short block names) of a depth plan derived by sharing.parent_depth."""
    cfg = compose([f"model={model}", "sharing=repeat", "sharing.plan=depth", *overrides])
    with torch.device("meta"):
        built = build_model(cfg.model, cfg.sharing, info)
    return {child: bank["layers"][0] for bank in built.sharing.summary().values() if bank["scheme"] == "repeat"
            for child in bank["layers"][1:]}, built


def test_a_deeper_wrn_plays_the_blocks_of_a_shallower_one_stretched_evenly_over_each_stage():
    """WRN-28 (4 blocks per stage) from WRN-16 (2): deep blocks 0, 1, 2, 3 play shallow blocks 0, 0, 1, 1."""
    found, model = depth_map("wrn", ["model.depth=28", "model.widen=1", "sharing.parent_depth=16"])
    expected = {}
    for stage_start in (0, 4, 8):  # blocks.<i>: 4 per stage
        for child, owner in ((1, 0), (3, 2)):
            for role in ("conv1", "conv2"):
                expected[f"blocks.{stage_start + child}.{role}"] = f"blocks.{stage_start + owner}.{role}"
    assert found == expected
    plain16 = compose(["model=wrn", "model.depth=16", "model.widen=1"])
    with torch.device("meta"):
        shallow = build_model(plain16.model, plain16.sharing, DataInfo(10, 3, 32))
    # the parents are WRN-16-1's convs; the only extra weights are the betas of children tiling a narrower input
    assert conv_params(model) - conv_params(shallow) == sum(
        t.b1.numel() * 2 for b in model.sharing.banks.values() for t in getattr(b, "tilings", {}).values())


def test_depth_rules_for_the_cifar_resnets_and_the_path_finder():
    found, _ = depth_map("resnet_cifar", ["model.blocks=3", "sharing.parent_depth=1"])
    assert found["body.block2_3.conv2"] == "body.block2_1.conv2" and len(found) == 3 * 2 * 2
    found, _ = depth_map("pathfinder", ["model.layers=4", "sharing.parent_depth=2"],
                         DataInfo(1, 1, 9, task="segmentation"))
    assert found == {"layers.1.conv": "layers.0.conv", "layers.3.conv": "layers.2.conv"}


@pytest.mark.parametrize("model, overrides, message", [
    ("wrn", ["sharing.parent_depth=12"], "sharing.parent_depth=12: the parent net must be a shallower member of "
     "this model's family (model.depth = 6N + 4: 10, 16, 22, 28, ...) with fewer blocks per stage than this "
     "one's [4, 4, 4]"),
    ("wrn", ["sharing.parent_depth=28"], "depth 28 has [4, 4, 4]"),
    ("wrn", ["sharing.parent_depth=16", "+sharing.parents={blocks.1.conv1: blocks.0.conv1}"],
     "sharing.parents and sharing.parent_depth=16 are both set"),
    ("vgg", ["sharing.parent_depth=6"], "no conv layer of this model declares its place in a family of blocks per "
     "stage (model=wrn, resnet_cifar and pathfinder do); give the child -> parent map in sharing.parents instead"),
])
def test_impossible_parent_depths_fail_naming_the_family_and_what_would_work(model, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        depth_map(model, overrides)


def test_the_re_cnn_is_refused_with_the_reason():
    cfg = compose(["model=recnn", "model.fields=[2,3,3,3,3,4]", "sharing=repeat"])
    with pytest.raises(ConfigError, match=r"sharing=repeat: layer features.0 cannot be a RepeatNet parent or child: "
                                          r"it is an e2cnn R2Conv whose weight is a vector of steerable-basis"):
        build_model(cfg.model, cfg.sharing, DataInfo(10, 1, 29))
