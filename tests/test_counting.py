"""|W|, |W_conv| (ShardNet convention), MACs/FLOPs and compression, for every sharing scheme."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repeatnet_repro.analysis.counting import compression, conv_params, count_model, macs_flops, trainable_params
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.sharing import SharedConv2d, apply_sharing

INFO = DataInfo(num_classes=5, in_channels=3, image_size=8)


class Net(nn.Module):
    """stem conv3 3->4, three conv3 4->4 of group 'g' (base shape (2, 2) for the width plan), a 1x1
    4->4, all with bias; BN after every conv3 and a linear head (neither counted in |W_conv|)."""

    def __init__(self):
        super().__init__()
        self.stem = SharedConv2d(3, 4, 3, padding=1, bias=True)
        self.convs = nn.ModuleList([SharedConv2d(4, 4, 3, padding=1, bias=True, group="g", base_channels=(2, 2))
                                    for _ in range(3)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(4) for _ in range(4)])
        self.point = SharedConv2d(4, 4, 1, bias=True)
        self.head = nn.Linear(4, INFO.num_classes)

    def forward(self, x):
        x = self.bns[0](self.stem(x))
        for conv, bn in zip(self.convs, self.bns[1:]):
            x = torch.relu(bn(conv(x)))
        return self.head(self.point(x).mean((2, 3)))


STEM = 3 * 4 * 9 + 4
CONV = 4 * 4 * 9
POINT = 4 * 4  # its bias is left out of |W_conv|
NON_CONV = 4 * 2 * 4 + 4 + (4 * 5 + 5)  # BNs, the 1x1 bias, the head


@pytest.mark.parametrize("sharing, w_conv", [
    ({"name": "none"}, STEM + 3 * (CONV + 4) + POINT),
    ({"name": "hard"}, STEM + CONV + 4 + POINT),  # one weight and one bias for the group
    ({"name": "hard", "share_bias": False}, STEM + CONV + 3 * 4 + POINT),
    ({"name": "soft", "templates": 2}, STEM + 2 * CONV + 3 * 2 + 3 * 4 + POINT),  # templates + alphas + biases
    ({"name": "repeat", "plan": "width"}, STEM + 3 * (2 * 2 * 9 + 2 * 2 * 2 + 4) + POINT),  # parent + 4 pairs + bias
    ({"name": "repeat", "plan": "depth", "parents": {"convs.1": "convs.0", "convs.2": "convs.0"}},
     STEM + CONV + 3 * 4 + POINT),  # exact-shape children are copies
])
def test_conv_and_total_parameters_by_hand(sharing, w_conv):
    torch.manual_seed(0)
    model = apply_sharing(Net(), sharing)
    assert conv_params(model) == w_conv
    assert trainable_params(model) == w_conv + NON_CONV


def test_macs_are_those_of_the_convs_and_the_linear_layer_only():
    """Per 8x8 image: sum of Cout·Cin·k·k·H·W over convs + in·out of the head; weight generation is free."""
    expected = 64 * (3 * 4 * 9 + 3 * 4 * 4 * 9 + 4 * 4) + 4 * 5
    for sharing in ({"name": "none"}, {"name": "soft", "templates": 2}, {"name": "repeat", "plan": "width"}):
        model = apply_sharing(Net(), sharing)
        counts = macs_flops(model, (3, 8, 8))
        assert counts == {"macs": expected, "flops": 2 * expected}
        assert model.training  # counting runs in eval mode and restores the mode


def test_count_model_reports_the_groups_and_compression_is_the_w_conv_ratio():
    plain, hard = apply_sharing(Net(), {"name": "none"}), apply_sharing(Net(), {"name": "hard"})
    counts = count_model(hard, INFO)
    assert set(counts) >= {"params", "params_conv", "macs", "flops", "groups"}
    assert counts["groups"] == hard.sharing.summary() and counts["groups"]["g"]["scheme"] == "hard"
    assert compression(plain, hard) == (STEM + 3 * (CONV + 4) + POINT) / (STEM + CONV + 4 + POINT)


def test_counts_need_no_real_weights():
    """A model built on the meta device (no memory, no init) counts the same: big models count fast."""
    real = apply_sharing(Net(), {"name": "soft", "templates": 2})
    with torch.device("meta"):
        meta = apply_sharing(Net(), {"name": "soft", "templates": 2})
    ours = count_model(meta, INFO)
    assert ours == count_model(real, INFO)
    assert ours["params_conv"] == STEM + 2 * CONV + 3 * 2 + 3 * 4 + POINT
