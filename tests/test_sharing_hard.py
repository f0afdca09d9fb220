"""Hard sharing (ShardNet): one weight per group, used by every member layer; BN never shared."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repeatnet_repro.analysis.counting import conv_params
from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import SharedConv2d, apply_sharing, shared_convs


class Stack(nn.Module):
    """A stem (no group) then `depth` same-shape convs of group 'g', each followed by its own BN."""

    def __init__(self, width=4, depth=3, bias=True, group="g"):
        super().__init__()
        self.stem = SharedConv2d(2, width, 3, padding=1, bias=bias)
        self.convs = nn.ModuleList([SharedConv2d(width, width, 3, padding=1, bias=bias, group=group)
                                    for _ in range(depth)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(depth)])

    def forward(self, x):
        x = self.stem(x)
        for conv, bn in zip(self.convs, self.bns):
            x = torch.tanh(bn(conv(x)))
        return x


def build(scheme="hard", **options):
    torch.manual_seed(0)
    return apply_sharing(Stack(**options.pop("net", {})), {"name": scheme, **options})


def test_every_group_member_convolves_with_the_same_parameter():
    model = build()
    weights = [conv.weight for conv in model.convs]
    assert all(w is weights[0] for w in weights) and isinstance(weights[0], nn.Parameter)
    assert model.stem.weight is not weights[0]  # group=None stays unshared
    assert len({id(bn.weight) for bn in model.bns}) == 3  # BatchNorm never shared


def test_gradient_of_the_shared_weight_is_the_sum_over_its_uses():
    """dL/dW = sum_l dL/dW_l: the same network with three independent copies of W gives the terms."""
    model = build()
    x = torch.randn(2, 2, 6, 6)
    model(x).square().sum().backward()
    shared_grad = model.convs[0].weight.grad.clone()

    untied = build(scheme="none")
    with torch.no_grad():
        for u, s in zip([untied.stem, *untied.convs], [model.stem, *model.convs]):
            u.weight.copy_(s.weight)
            u.bias.copy_(s.bias)
    untied(x).square().sum().backward()
    per_use = torch.stack([c.weight.grad for c in untied.convs])
    assert torch.allclose(shared_grad, per_use.sum(0), atol=1e-5)
    assert (per_use[0] - per_use[1]).abs().max() > 1e-6  # the uses really differ


@pytest.mark.parametrize("share_bias", [True, False])
def test_bias_is_shared_like_the_layer_or_kept_per_layer(share_bias):
    model = build(share_bias=share_bias)
    biases = {id(conv.bias) for conv in model.convs}
    assert len(biases) == (1 if share_bias else 3)


@pytest.mark.parametrize("share_bias, expected", [(True, 2 * 4 * 9 + 4 + 4 * 4 * 9 + 4),
                                                  (False, 2 * 4 * 9 + 4 + 4 * 4 * 9 + 3 * 4)])
def test_parameter_count_is_one_layer_per_group(share_bias, expected):
    """stem 2->4 (w + b) + ONE 4->4 weight (+ one or three biases) + 3 unshared BNs (2·4 each)."""
    model = build(share_bias=share_bias)
    assert sum(p.numel() for p in model.parameters()) == expected + 3 * 8
    assert model.sharing.summary()["g"]["params"] == 4 * 4 * 9 + 4 * (1 if share_bias else 0)


def test_a_group_of_different_shapes_fails_naming_layers_and_shapes():
    model = Stack()
    model.convs[1] = SharedConv2d(4, 8, 3, group="g")
    with pytest.raises(ConfigError, match=r"group 'g' mixes weight shapes: convs.0 has \(4, 4, 3, 3\) but "
                                          r"convs.1 has \(8, 4, 3, 3\)"):
        apply_sharing(model, {"name": "hard"})


def test_a_model_without_groups_or_convs_fails():
    with pytest.raises(ConfigError, match="no shareable groups"):
        apply_sharing(Stack(group=None), {"name": "hard"})
    with pytest.raises(ConfigError, match="no shareable conv layers"):
        apply_sharing(nn.Sequential(nn.Linear(2, 2)), {"name": "hard"})


def test_groups_that_all_hold_one_layer_fail_unless_singletons_are_allowed():
    """Sharing nothing is an error (sharing.allow_singletons=true asks for it), never a silent no-op."""
    with pytest.raises(ConfigError, match=r"sharing=hard: every sharing group of this model holds a single layer "
                                          r"\(g = convs.0\).*sharing.allow_singletons=true"):
        build(net={"depth": 1})
    model = build(net={"depth": 1}, allow_singletons=True)
    assert model.sharing.summary()["g"]["layers"] == ["convs.0"]


RECNN_INFO = DataInfo(10, 1, 29)


def recnn(sharing):
    """An RE-CNN on C4 whose layers 3-5 map 3 -> 3 regular fields: group regular3_k5 of three R2Convs."""
    cfg = compose(["model=recnn", "model.fields=[2,3,3,3,3,4]", *sharing])
    torch.manual_seed(0)
    return build_model(cfg.model, cfg.sharing, RECNN_INFO)


def test_hard_sharing_ties_the_basis_coefficients_of_equal_field_r2convs():
    plain, hard = recnn(["sharing=none"]), recnn(["sharing=hard"])
    convs = [m for m in shared_convs(hard) if m.group == "regular3_k5"]
    assert len(convs) == 3 and all(c.weight is convs[0].weight for c in convs)
    assert torch.equal(convs[0].filter(), convs[2].filter())  # one filter, expanded from the tied coefficients
    dim = convs[0].weight_shape[0]
    assert conv_params(plain) - conv_params(hard) == 2 * dim  # two of the three coefficient vectors are gone
    out = hard(torch.randn(2, 1, 29, 29))
    out.sum().backward()
    assert hard.sharing.banks["regular3_k5"].shared.grad.abs().sum() > 0
