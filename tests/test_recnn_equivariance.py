"""The RE-CNN is rotation-invariant: rotating a digit by multiples of 90 degrees leaves the logits unchanged."""
from __future__ import annotations

import pytest
import torch

from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_c4_logits_do_not_change_when_the_input_is_rotated(quarter_turns):
    torch.manual_seed(0)
    model = build_model({"name": "recnn", "N": 4, "pool_kernel": 3}, {"name": "none"},
                        DataInfo(num_classes=10, in_channels=1, image_size=29)).eval()
    x = torch.randn(2, 1, 29, 29)
    with torch.no_grad():
        upright, rotated = model(x), model(torch.rot90(x, quarter_turns, dims=(2, 3)))
    assert upright.abs().max() > 0.1  # the logits are not trivially constant
    torch.testing.assert_close(rotated, upright, atol=1e-4, rtol=1e-4)


def test_pool_kernel_outside_2_and_3_names_the_key():
    with pytest.raises(ValueError, match="model.pool_kernel=4"):
        build_model({"name": "recnn", "pool_kernel": 4}, {"name": "none"}, DataInfo(10, 1, 29))
