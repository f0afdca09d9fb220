"""Every model x every sharing scheme: it really shares and trains, or it is refused as docs/capabilities.md says."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from repeatnet_repro import count
from repeatnet_repro.analysis.capabilities import model_options, probe_model, probes
from repeatnet_repro.models import build_model

DOC = Path(__file__).resolve().parents[1] / "docs" / "capabilities.md"

# model -> (overrides, data sets): small widths and images; groups, depth families and refusals as at the defaults
SMALL = {
    "cnn_rotmnist": (["model.widths=[2,3,4,4,6,8]", "model.base_widths=[2,3,4,4,6,8]",
                      "dataset.channels=1", "dataset.image_size=24"], ["synthetic"]),
    **{f"cnn_rotmnist_repeat_c{n}": (["model.widths=[5,7,9,9,13,17]", "model.base_widths=[2,3,4,4,6,8]",
                                      "dataset.channels=1", "dataset.image_size=24"], ["synthetic"])
       for n in (4, 8, 16)},
    "convnet": (["model.widths=[4,8]", "dataset.image_size=8"], ["synthetic"]),
    "pathfinder": (["model.width=4", "model.layers=4"], ["shortest_paths"]),
    # repeated field counts: the equal-field R2Convs the default layout lacks (hard and soft then share)
    "recnn": (["model.fields=[2,3,3,3,3,4]", "dataset.channels=1", "dataset.image_size=24"], ["synthetic"]),
    "resnet16": (["dataset.image_size=8"], ["synthetic"]),
    "resnet_cifar": (["model.width=4", "model.blocks=2", "dataset.image_size=8"], ["synthetic"]),
    "resnet_imagenet": (["model.width=4", "dataset.image_size=8"], ["synthetic"]),
    "vgg": (["model.width=4", "dataset.image_size=32"], ["synthetic"]),
    "vggnet": (["model.width=4", "dataset.image_size=32"], ["synthetic"]),
    "wrn": (["model.depth=16", "model.widen=1", "dataset.image_size=8"], ["synthetic"]),
    "wrn_imagenet": (["model.width=4", "model.widen=1", "dataset.image_size=32"], ["synthetic"]),
}


def documented():
    """(model, scheme) -> None when the committed table says the scheme applies, else its refusal reason."""
    out = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 6 and cells[0] in SMALL and cells[1] in probes():
            out[(cells[0], cells[1])] = cells[5].replace("\\|", "|") or None
    return out


def train_step(probe):
    """One SGD step on CPU at batch 2; every real parameter of the banks gets a gradient."""
    torch.manual_seed(0)
    info = probe.info
    model = build_model(probe.config.model, probe.config.sharing, info)
    x = torch.randn(2, info.in_channels, info.image_size, info.image_size)
    out = model(x)
    if info.task == "segmentation":
        loss = F.binary_cross_entropy_with_logits(out, torch.randint(0, 2, out.shape).float())
    else:
        loss = F.cross_entropy(out, torch.tensor([0, 1]))
    loss = loss + model.sharing.regularization()
    loss.backward()
    banks = model.sharing.unique_parameters()
    assert torch.isfinite(loss) and all(p.grad is not None for p in banks), probe.overrides
    before = [p.detach().clone() for p in banks]
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert any(not torch.equal(b, p) for b, p in zip(before, banks)), probe.overrides


def test_the_small_settings_cover_every_model_option():
    assert sorted(SMALL) == model_options()


@pytest.mark.parametrize("model", sorted(SMALL))
def test_every_scheme_shares_for_real_and_trains_or_is_refused_as_documented(model):
    table = documented()
    overrides, datasets = SMALL[model]
    for probe in probe_model(model, overrides, datasets):
        key = (model, probe.scheme)
        assert key in table, f"{key} is not in docs/capabilities.md"
        if probe.built is not None and probe.reason is not None:
            pytest.fail(f"silent no-op: {' '.join(probe.overrides)} builds, but {probe.reason}")
        if probe.reason is not None:  # refused: the table says so, for the same key (widths in the text differ)
            assert table[key] is not None, f"{key} is refused ({probe.reason}) but documented as applying"
            assert table[key].split(":")[0] == probe.reason.split(":")[0], (table[key], probe.reason)
            continue
        if probe.scheme != "none":
            assert probe.params_conv != probe.unshared_conv
        train_step(probe)
        if table[key] is not None:  # documented refusals at the defaults only where small settings add groups
            assert model == "recnn" and probe.scheme in ("hard", "soft"), (key, table[key])


def test_the_committed_table_is_the_one_count_list_prints(capsys):
    assert count.main(["--list"]) == 0
    assert capsys.readouterr().out == DOC.read_text(), \
        "docs/capabilities.md is stale: run `python scripts/capabilities.py`"


def test_list_takes_no_overrides(capsys):
    assert count.main(["--list", "model=wrn"]) == 2
    assert capsys.readouterr().err.startswith("error: --list takes no overrides")
