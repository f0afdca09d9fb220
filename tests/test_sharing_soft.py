"""Soft sharing (Savarese & Maire): W_i = sum_j alpha_ij T_j, the LSM, the recurrence regulariser, folding."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from repeatnet_repro.config import compose
from repeatnet_repro.data.base import DataInfo
from repeatnet_repro.engine.optim import param_groups
from repeatnet_repro.models import build_model
from repeatnet_repro.registry import ConfigError
from repeatnet_repro.sharing import SharedConv2d, apply_sharing, fold, layer_similarity, lsm, shared_convs


class Stack(nn.Module):
    """stem 2->4 (unshared), then L convs 4->4 of group 'g', each with its own BN; a 1x1 conv of group 'h'."""

    def __init__(self, layers=4):
        super().__init__()
        self.stem = SharedConv2d(2, 4, 3, padding=1)
        self.convs = nn.ModuleList([SharedConv2d(4, 4, 3, padding=1, group="g") for _ in range(layers)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(4) for _ in range(layers)])
        self.mix = SharedConv2d(4, 4, 1, group="h")

    def forward(self, x):
        x = self.stem(x)
        for conv, bn in zip(self.convs, self.bns):
            x = torch.relu(bn(conv(x)))
        return self.mix(x)


def build(scheme="soft", layers=4, **options):
    torch.manual_seed(0)
    return apply_sharing(Stack(layers), {"name": scheme, **options})


def test_layer_weight_is_the_coefficient_combination_of_the_templates():
    model = build(templates=3)
    bank = model.sharing.banks["g"]
    for i, conv in enumerate(model.convs):
        expected = sum(bank.coefficients[i, j] * bank.template(j) for j in range(3))
        assert torch.allclose(conv.weight, expected, atol=1e-6)
    assert bank.templates.shape == (3, 4 * 4 * 3 * 3) and bank.coefficients.shape == (4, 3)


def test_one_hot_coefficients_are_hard_sharing():
    """Paper, Sec. 3: constraining alpha to one-hot vectors gives a hard sharing scheme."""
    soft, hard = build(templates=2), build("hard")
    with torch.no_grad():
        bank = soft.sharing.banks["g"]
        bank.coefficients.copy_(torch.tensor([[1.0, 0.0]] * 4))
        hard.sharing.banks["g"].shared.copy_(bank.template(0))
        hard.sharing.banks["h"].shared.copy_(soft.mix.weight)
        hard.stem.weight.copy_(soft.stem.weight)
    x = torch.randn(2, 2, 5, 5)
    assert torch.allclose(soft(x), hard(x), atol=1e-6)


def test_every_template_and_coefficient_receives_gradient():
    model = build(templates=3, coeff_init="normal")
    model(torch.randn(2, 2, 5, 5)).square().sum().backward()
    bank = model.sharing.banks["g"]
    assert (bank.templates.grad.abs().sum(1) > 0).all()
    assert (bank.coefficients.grad != 0).all()


def test_lsm_is_one_on_the_diagonal_symmetric_and_blind_to_rescaling_a_layer():
    alpha = torch.randn(5, 3)
    s = layer_similarity(alpha)
    assert torch.allclose(s.diagonal(), torch.ones(5))
    assert torch.allclose(s, s.T)
    assert ((s >= 0) & (s <= 1 + 1e-6)).all()
    rescaled = alpha.clone()
    rescaled[2] *= -7.5
    assert torch.allclose(layer_similarity(rescaled), s, atol=1e-6)
    a, b = alpha[0], alpha[1]
    assert torch.isclose(s[0, 1], (a @ b).abs() / (a.norm() * b.norm()))


def test_model_lsm_gives_one_matrix_per_group():
    model = build(templates=2)
    s = lsm(model)
    assert set(s) == {"g", "h"} and s["g"].shape == (4, 4) and s["h"].shape == (1, 1)


def test_regulariser_is_minus_lambda_sum_of_lsm_and_its_gradient_raises_similarities():
    model = build(templates=3, coeff_init="normal", reg_lambda=0.5)
    bank = model.sharing.banks["g"]
    before = bank.similarity().sum()
    reg = model.sharing.regularization()
    expected = -0.5 * (before + model.sharing.banks["h"].similarity().sum())
    assert torch.isclose(reg, expected)
    reg.backward()
    with torch.no_grad():
        bank.coefficients -= 0.1 * bank.coefficients.grad  # one gradient step on the regulariser alone
    assert bank.similarity().sum() > before + 1e-3


def test_templates_survive_the_channels_last_conversion():
    model = build(templates=2).to(memory_format=torch.channels_last)
    assert model(torch.randn(1, 2, 5, 5).to(memory_format=torch.channels_last)).shape == (1, 4, 5, 5)


def test_no_regulariser_without_lambda_and_coefficients_are_exempt_from_weight_decay():
    model = build(templates=2)
    assert model.sharing.regularization().item() == 0.0
    coefficients = {id(model.sharing.banks[g].coefficients) for g in ("g", "h")}
    assert {id(p) for p in model.sharing.no_decay_parameters()} == coefficients
    groups = param_groups(model, weight_decay=5e-4)
    assert {id(p) for p in groups[1]["params"]} == coefficients and groups[1]["weight_decay"] == 0.0


@pytest.mark.parametrize("layers, k", [(4, 2), (4, 4), (3, 5)])
def test_orthogonal_init_makes_A_orthonormal_and_the_initial_lsm_diagonal(layers, k):
    """App. B: A^T A = I (L >= k); with L <= k the rows are orthonormal and the LSM starts as I."""
    alpha = build(layers=layers, templates=k).sharing.banks["g"].coefficients.detach()
    if layers >= k:
        assert torch.allclose(alpha.T @ alpha, torch.eye(k), atol=1e-5)
    else:
        assert torch.allclose(layer_similarity(alpha), torch.eye(layers), atol=1e-5)


def test_identity_and_sparse_inits():
    assert torch.equal(build(coeff_init="identity").sharing.banks["g"].coefficients.detach(), torch.eye(4))
    alpha = build(templates=4, coeff_init="sparse").sharing.banks["g"].coefficients.detach()
    assert ((alpha == 0).sum(1) == 2).all()  # half of every row zeroed, no layer left without a weight


@pytest.mark.parametrize("how", ["normal", "uniform", "sparse"])
def test_the_random_inits_app_b_compares_give_each_layer_a_unit_norm_coefficient_vector_on_average(how):
    """App. B names normal and uniform draws (and sparse ones: half zeroed) without a scale; ours is the scale of
    an orthonormal row, E|alpha_i|^2 = 1, so every init starts the layers' weights at the templates' scale."""
    from repeatnet_repro.sharing.soft import init_coefficients

    torch.manual_seed(0)
    alpha = init_coefficients(20_000, 6, how)
    assert alpha.pow(2).sum(1).mean().item() == pytest.approx(1.0, rel=0.03)
    if how == "uniform":
        assert alpha.abs().max() <= (3 / 6) ** 0.5 and alpha.min() < 0 < alpha.max()


def test_templates_default_to_one_per_layer_and_can_be_given_per_group():
    model = build()
    assert model.sharing.banks["g"].templates.shape[0] == 4 and model.sharing.banks["h"].templates.shape[0] == 1
    model = build(templates={"g": 2, "h": 1})
    assert model.sharing.summary()["g"] == {"scheme": "soft", "layers": [f"convs.{i}" for i in range(4)],
                                            "params": 2 * 144 + 4 * 2, "templates": 2}


@pytest.mark.parametrize("options, message", [
    ({"templates": 0}, "group 'g' gets 0 templates; at least 1"),
    ({"templates": {"g": 2}}, r"one count for each of the model's groups \['g', 'h'\].*missing: \['h'\]"),
    ({"templates": 2, "coeff_init": "identity"}, "coeff_init=identity needs as many templates as layers"),
    ({"coeff_init": "xavier"}, "coeff_init=xavier is not valid: sharing.coeff_init must be one of orthogonal, identity, sparse, normal, uniform"),
    ({"reg_lambda": -1.0}, "reg_lambda=-1.0"),
])
def test_impossible_options_fail_naming_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        build(**options)


def test_folding_at_threshold_one_ties_parallel_layers_and_keeps_outputs():
    model = build(templates=3)
    with torch.no_grad():
        alpha = model.sharing.banks["g"].coefficients
        alpha[2] = -2.5 * alpha[0]  # layer 2 computes layer 0's operation, rescaled
        alpha[3] = 0.5 * alpha[1]
    model.eval()
    x = torch.randn(2, 2, 5, 5)
    before = model(x)
    report = fold(model, threshold=1.0)
    assert torch.allclose(model(x), before, atol=1e-5)
    g = report["groups"]["g"]
    assert g["tied_to"] == [0, 1, 0, 1] and g["distinct_layers"] == 2 and g["folded_layers"] == 2


def test_folding_below_one_gives_tied_layers_the_same_weight_up_to_scale():
    model = build(templates=3, coeff_init="normal")
    with torch.no_grad():
        alpha = model.sharing.banks["g"].coefficients
        alpha[1] = alpha[0] + 0.05 * torch.randn(3)  # nearly, not exactly, parallel
    report = fold(model, threshold=0.95)
    assert report["groups"]["g"]["tied_to"][1] == 0
    w0, w1 = model.convs[0].weight.flatten(), model.convs[1].weight.flatten()
    assert torch.isclose((w0 @ w1).abs() / (w0.norm() * w1.norm()), torch.tensor(1.0), atol=1e-5)


def test_folding_needs_a_soft_shared_model():
    with pytest.raises(ConfigError, match="sharing=soft"):
        fold(build("hard"), 0.8)


def test_lsm_snapshots_are_written_at_the_listed_epochs_and_the_last(tmp_path):
    model = build(templates=2, lsm_epochs=[1, 3], lsm_last=True)
    for epoch in range(1, 6):
        model.sharing.on_epoch_end(epoch, tmp_path, last=epoch == 5)
    files = sorted(p.name for p in (tmp_path / "lsm").iterdir())
    assert files == ["epoch_001.json", "epoch_003.json", "epoch_005.json"]  # nothing half-written left
    snap = json.loads((tmp_path / "lsm" / "epoch_003.json").read_text())
    assert snap["epoch"] == 3 and set(snap["banks"]) == {"g", "h"}
    lsm = torch.tensor(snap["banks"]["g"]["lsm"])
    assert torch.allclose(lsm, model.sharing.banks["g"].similarity().detach(), atol=1e-6)
    assert snap["banks"]["g"]["layers"] == [f"convs.{i}" for i in range(4)]


def test_no_snapshots_unless_asked(tmp_path):
    model = build(templates=2, lsm_epochs=[], lsm_last=False)
    model.sharing.on_epoch_end(1, tmp_path, last=True)
    assert not (tmp_path / "lsm").exists()


def test_soft_sharing_of_r2convs_mixes_templates_of_basis_coefficients():
    """RE-CNN: a group of equal-field R2Convs holds k coefficient-vector templates; each layer's filter is the
    basis expansion of its mix, so it stays C_N-steerable."""
    cfg = compose(["model=recnn", "model.fields=[2,3,3,3,3,4]", "sharing=soft", "sharing.templates=2"])
    torch.manual_seed(0)
    model = build_model(cfg.model, cfg.sharing, DataInfo(10, 1, 29))
    bank = model.sharing.banks["regular3_k5"]
    convs = [m for m in shared_convs(model) if m.group == "regular3_k5"]
    dim = convs[0].weight_shape[0]
    assert bank.templates.shape == (2, dim) and bank.coefficients.shape == (3, 2)
    assert torch.allclose(convs[2].weight, bank.coefficients[2] @ bank.templates)
    model(torch.randn(2, 1, 29, 29)).sum().backward()
    assert bank.templates.grad.abs().sum() > 0 and bank.coefficients.grad.abs().sum() > 0


def test_soft_groups_that_all_hold_one_layer_fail_unless_singletons_are_allowed():
    model = nn.Sequential(SharedConv2d(3, 4, 3, group="a"), SharedConv2d(4, 8, 3, group="b"))
    with pytest.raises(ConfigError, match=r"sharing=soft: every sharing group .* \(a = 0, b = 1\)"):
        apply_sharing(model, {"name": "soft"})
    assert set(apply_sharing(model, {"name": "soft", "allow_singletons": True}).sharing.banks) == {"a", "b"}
