"""The init probe names the family a tensor was drawn from by its values alone, so docs/protocols.md's `init`
field says what the builders do: tiny modules initialised by hand with known families must be told apart."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from repeatnet_repro.analysis import init_probe
from repeatnet_repro.analysis.init_probe import Sample, classify, describe, samples_by_kind
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.sharing.soft import init_coefficients


def drawn(init, shape=(48, 32, 3, 3), seed=0) -> Sample:
    torch.manual_seed(seed)
    w = init(torch.empty(shape))
    k = math.prod(shape[2:])
    return Sample("w", w.flatten().double(), shape[1] * k, shape[0] * k)


def family(*samples: Sample) -> str:
    found = classify(samples)
    assert len(found) == 1, found
    return found[0][0]


@pytest.mark.parametrize("init, expected", [
    (lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"), "He-normal fan_in"),
    (lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), "He-normal fan_out"),
    (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"), "He-uniform fan_in"),
    (nn.init.xavier_uniform_, "Glorot-uniform"),
    (nn.init.xavier_normal_, "Glorot-normal"),
    (lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)), "torch default U(±1/√fan_in)"),
])
def test_each_family_is_named_from_its_draws(init, expected):
    assert family(drawn(init)) == expected


def test_kaiming_fan_out_is_not_taken_for_xavier_uniform_and_back():
    """The brief's pair: a 16 -> 64 conv, where He fan_out and Glorot differ by 6 % in std but not in shape."""
    fan_out = drawn(lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), (64, 16, 3, 3))
    glorot = drawn(nn.init.xavier_uniform_, (64, 16, 3, 3))
    assert (family(fan_out), family(glorot)) == ("He-normal fan_out", "Glorot-uniform")


def test_square_layers_cannot_tell_fan_in_from_fan_out_and_say_so():
    square = drawn(lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"), (32, 32, 3, 3))
    assert family(square) == "He-normal fan_in = fan_out"
    wider = drawn(lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"), (64, 32, 3, 3), seed=1)
    assert family(square, wider) == "He-normal fan_in", "one non-square tensor settles it"


def test_a_layer_drawn_otherwise_is_named_with_its_place():
    torch.manual_seed(0)
    convs = [nn.init.xavier_uniform_(torch.empty(32, 32, 3, 3)) for _ in range(4)]
    stem = nn.init.kaiming_normal_(torch.empty(48, 16, 3, 3), mode="fan_out", nonlinearity="relu")
    samples = [Sample(f"blocks.{i}.conv1", w.flatten().double(), 288, 288) for i, w in enumerate(convs)]
    samples.append(Sample("stem", stem.flatten().double(), 144, 432))
    assert init_probe.render(classify(samples)) == "Glorot-uniform, but He-normal fan_out on 1 of 5 (stem)"


def test_families_the_values_cannot_tell_apart_are_named_together():
    """A 3 -> 32 stem: He fan_out and Glorot-normal stds differ by 4 %, less than a draw can resolve."""
    stem = drawn(lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), (32, 3, 3, 3))
    assert family(stem) == "He-normal fan_out = Glorot-normal"


def test_a_shift_or_scale_that_no_family_has_is_not_given_a_name():
    torch.manual_seed(0)
    w = torch.randn(64, 32, 3, 3) * 0.5  # N(0, 0.25): 8x He's std at fan_in 288
    (label, _), = classify([Sample("w", w.flatten().double(), 288, 576)])
    assert label.startswith("unrecognised")


class Block(nn.Module):
    """conv3-BN, a 1x1 conv into a BN, and a 'linear' 1x1 with no BN after it, then an FC."""

    def __init__(self, zero_last: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.reduce = nn.Conv2d(8, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.blend = nn.Conv2d(8, 16, 1, bias=False)
        self.fc = nn.Linear(16, 10)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.kaiming_normal_(self.reduce.weight, mode="fan_out", nonlinearity="relu")
        nn.init.xavier_uniform_(self.blend.weight)
        if zero_last:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x):
        x = self.bn2(self.reduce(self.bn1(self.conv(x))))
        return self.fc(self.blend(x).mean((2, 3)))


def probe_block(zero_last: bool):
    torch.manual_seed(0)
    model = Block(zero_last)
    with torch.device("meta"):
        fed = init_probe._bn_fed(Block(zero_last), DataInfo(10, 3, 8))
    return describe(samples_by_kind(model, fed))


def test_bn_scales_at_zero_are_counted_and_named_apart_from_those_at_one():
    assert probe_block(False)["BN scale"] == "1"
    assert probe_block(True)["BN scale"] == "1, but 0 on 1 of 2 (bn2)"
    assert probe_block(True)["BN shift"] == "0"


def test_what_follows_a_1x1_conv_decides_its_kind():
    found = probe_block(True)
    assert found["1x1 conv (BN after)"] == "He-normal fan_in = fan_out"  # 8 -> 8
    assert found["linear 1x1 conv (no BN after)"] == "Glorot-uniform"
    assert found["kxk conv"] == "He-normal fan_out"
    assert found["FC"] == found["FC bias"] == "torch default U(±1/√fan_in)"


@pytest.mark.parametrize("how, expected", [("orthogonal", "orthogonal"), ("identity", "identity"),
                                           ("normal", "N(0, 1/k)"), ("uniform", "U(±√(3/k))"),
                                           ("sparse", "sparse: ⌈k/2⌉ of k per row, N(0, 1/⌈k/2⌉)")])
def test_soft_coefficients_are_told_by_their_structure(how, expected):
    torch.manual_seed(0)
    assert init_probe._alpha_label(init_coefficients(40, 40 if how == "identity" else 8, how).double()) == expected


def test_repeat_betas_are_glorot_uniform_on_1_by_tiles_and_remainder_pairs_uniform_0_1():
    torch.manual_seed(0)
    tiles = [4, 4, 16, 16, 8]
    betas = []
    for t in tiles * 10:
        bound = math.sqrt(6 / (1 + t))
        betas.append(Sample("b", torch.empty(t).uniform_(-bound, bound).double(), t, 1))
    assert family(*betas) == "Glorot-uniform"
    assert family(*[Sample("rows", torch.rand(2).double()) for _ in range(300)]) == "U(0, 1)"
