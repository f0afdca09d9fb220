"""`python -m repeatnet_repro.count`: one JSON object, same overrides as train, never touches a data set."""
from __future__ import annotations

import json

from conftest import run_entrypoint


def test_count_prints_params_conv_params_macs_flops_and_groups_as_json(tmp_path):
    proc = run_entrypoint("model=convnet", "model.widths=[8,16]", "dataset=digits", module="repeatnet_repro.count")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # conv 1->8 (72), 2 x 8->8 (576), 8->16 (1152), 2 x 16->16 (2304): no conv biases in convnet
    assert out["params_conv"] == 72 + 2 * 576 + 1152 + 2 * 2304
    bn, fc = 2 * (3 * 8 + 3 * 16), 16 * 10 + 10
    assert out["params"] == out["params_conv"] + bn + fc
    assert out["flops"] == 2 * out["macs"] > 0
    assert "groups" in out


def test_count_works_for_a_data_set_that_is_not_on_disk(tmp_path):
    proc = run_entrypoint("model=convnet", "dataset=cifar10", f"paths.data_dir={tmp_path / 'nothing_here'}",
                          module="repeatnet_repro.count")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dataset"] == "cifar10"
    assert not (tmp_path / "nothing_here").exists()


def test_reference_gives_the_compression_of_hard_sharing():
    proc = run_entrypoint("model=convnet", "model.widths=[8]", "model.convs_per_stage=3", "sharing=hard",
                          'reference=["sharing=none"]', module="repeatnet_repro.count")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # stage1 group = convs 2 and 3 (8->8): hard sharing stores one of the two
    assert out["reference"]["params_conv"] == 72 + 2 * 576
    assert out["params_conv"] == 72 + 576
    assert out["compression"] == (72 + 2 * 576) / (72 + 576)


def test_bad_override_is_one_line_on_stderr():
    proc = run_entrypoint("model=nope", module="repeatnet_repro.count")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ") and "convnet" in proc.stderr
