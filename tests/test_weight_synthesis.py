"""Weight synthesis as training runs it: RepeatNet's fused tiling and soft sharing's one product per group and
forward are the same functions (values and gradients) as the per-layer formulas, and come out in the compute
dtype under bf16 autocast."""
from __future__ import annotations

import copy

import pytest
import torch

from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.models import build_model
from repeatnet_repro.sharing import psi
from repeatnet_repro.sharing.repeat import TiledPsi, Tiling
from repeatnet_repro.sharing.soft import TemplateBank


def tiles_by_formula(parent, b1, b2, g_out, g_in):
    """Tile (a, b) = psi_{a g_in + b}(parent), placed at rows a*o.., columns b*i.."""
    rows = [torch.cat([psi(parent, b1[a * g_in + b], b2[a * g_in + b]) for b in range(g_in)], dim=1)
            for a in range(g_out)]
    return torch.cat(rows, dim=0)


@pytest.mark.parametrize("shape, g_out, g_in", [((4, 3, 3, 3), 2, 2), ((3, 2, 1, 1), 3, 1), ((2, 3, 3, 3), 1, 3)])
def test_fused_tiling_is_psi_per_tile_in_value_and_gradient(shape, g_out, g_in):
    torch.manual_seed(0)
    parent = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    b1, b2 = (torch.randn(g_out * g_in, dtype=torch.float64, requires_grad=True) for _ in range(2))

    def fused(p, c1, c2):
        return TiledPsi.apply(p, c1, c2, g_out, g_in, torch.float64)

    assert torch.allclose(fused(parent, b1, b2), tiles_by_formula(parent, b1, b2, g_out, g_in))
    assert torch.autograd.gradcheck(fused, (parent, b1, b2))
    channels_last = parent.detach().to(memory_format=torch.channels_last).requires_grad_()
    assert torch.autograd.gradcheck(fused, (channels_last, b1, b2))


def test_under_bf16_autocast_a_child_is_computed_in_bf16_to_bf16_precision_with_fp32_gradients():
    torch.manual_seed(0)
    tiling, parent = Tiling((8, 4, 3, 3), (16, 8, 3, 3), "xavier_uniform"), torch.randn(8, 4, 3, 3, requires_grad=True)
    grad = torch.randn(16, 8, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        child = tiling(parent)
    assert child.dtype == torch.bfloat16
    ref = tiling(parent)
    # three bf16 roundings (8 significant bits each) where fp32 then the conv's cast round once
    assert torch.allclose(child.float(), ref, rtol=2 ** -6, atol=1e-4)
    low = torch.autograd.grad(child, [parent, tiling.b1, tiling.b2], grad.to(torch.bfloat16))
    high = torch.autograd.grad(ref, [parent, tiling.b1, tiling.b2], grad)
    for a, b in zip(low, high):
        assert a.dtype == torch.float32 and (a - b).norm() <= 0.02 * b.norm()


def soft_model():
    torch.manual_seed(0)
    cfg = compose(["model=wrn", "model.depth=16", "model.widen=1", "sharing=soft", "sharing.templates=2",
                   "sharing.reg_lambda=0.1"])
    return build_model(cfg.model, cfg.sharing, DataInfo(10, 3, 8))


def test_a_soft_group_computes_its_layers_weights_in_one_product_per_forward_with_per_layer_gradients(monkeypatch):
    model = soft_model()
    per_layer = copy.deepcopy(model)
    per_layer._forward_pre_hooks.clear()  # without the hooks every layer multiplies its own coefficients
    bank = next(b for b in model.sharing.banks.values() if isinstance(b, TemplateBank))
    products, matmul = [], torch.Tensor.__matmul__

    def counting(a, b):
        if b is bank.templates:
            products.append(tuple(a.shape))
        return matmul(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", counting)
    x = torch.randn(4, 3, 8, 8)
    out = model(x)
    monkeypatch.undo()
    assert products == [tuple(bank.coefficients.shape)]  # the whole L x k matrix, once
    assert bank._weights is None  # the cache closes with the forward
    ref = per_layer(x)
    assert torch.allclose(out, ref, atol=1e-5)
    (out.square().sum() + model.sharing.regularization()).backward()
    (ref.square().sum() + per_layer.sharing.regularization()).backward()
    for (name, p), q in zip(model.named_parameters(), per_layer.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-4, atol=1e-5), name


def test_the_per_forward_cache_closes_when_a_forward_raises():
    model = soft_model()
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 5, 8, 8))  # 5 channels where the stem takes 3
    assert all(getattr(b, "_weights", None) is None for b in model.sharing.banks.values())


def test_soft_weights_come_out_in_the_compute_dtype_under_autocast():
    model = soft_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.randn(2, 3, 8, 8))
    bank = next(b for b in model.sharing.banks.values() if isinstance(b, TemplateBank))
    bank.per_forward(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert bank.weight(0).dtype == torch.bfloat16
    bank.per_forward(False)
    assert torch.isfinite(logits).all()
