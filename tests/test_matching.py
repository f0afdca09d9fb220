"""Matched budgets: `match.params|params_conv|macs="<reference overrides>"` finds the width at which a model's
count equals the reference config's, on the real models (meta-device counts), for the count CLI and for
training runs, which record the choice; what cannot be matched is refused in one line."""
from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from conftest import read_summary, run_entrypoint
from repeatnet_repro.analysis.counting import count_composed
from repeatnet_repro.analysis.matching import closest, match_width, with_width
from repeatnet_repro.config import compose
from repeatnet_repro.registry import ConfigError

CIFAR_RESNET = ["dataset=cifar10", "model=resnet_cifar", "model.width=8", "model.blocks=1", "match.knob=model.width"]


def matched(overrides):
    cfg = compose(overrides)
    return cfg, match_width(cfg, overrides)


@pytest.mark.parametrize("scheme, measure", [
    (["sharing=hard"], "params"), (["sharing=soft", "+sharing.templates=1"], "params_conv"),
    (["sharing=repeat", "sharing.k_rep=2"], "params"), (["sharing=repeat", "sharing.k_rep=2"], "macs")])
def test_the_chosen_width_counts_within_tolerance_of_the_reference_and_no_neighbour_is_closer(scheme, measure):
    overrides = [*CIFAR_RESNET, *scheme, f"match.{measure}='sharing=none'"]
    cfg, record = matched(overrides)
    target = count_composed(compose([*CIFAR_RESNET, "sharing=none"]))[measure]
    width = cfg.model.width
    assert record["target"] == target and record["knob"] == "model.width" and record["value"] == width
    assert record["achieved"] == count_composed(cfg)[measure]
    assert abs(record["ratio"] - 1) <= record["tolerance"] == 0.05
    for neighbour in (width - 1, width + 1):
        assert abs(count_composed(with_width(cfg, "model.width", neighbour))[measure] - target) >= \
            abs(record["achieved"] - target)


def test_widths_follow_the_scheme_hard_widens_repeat_at_matched_macs_halves_the_base_width():
    assert matched([*CIFAR_RESNET, "sharing=hard", "match.params='sharing=none'"])[0].model.width > 8
    repeat, _ = matched([*CIFAR_RESNET, "sharing=repeat", "sharing.k_rep=2", "match.macs='sharing=none'"])
    assert repeat.model.width == 4  # k_rep x base = the reference's 8: the same MACs exactly
    none, record = matched([*CIFAR_RESNET, "match.params='sharing=none'"])
    assert none.model.width == 8 and record["ratio"] == 1.0  # the reference matches itself


def test_a_list_width_is_set_by_its_first_entry_with_the_others_in_proportion():
    overrides = ["model=convnet", "model.widths=[16,32]", "model.convs_per_stage=3", "sharing=hard",
                 "match.knob=model.widths", "match.params='sharing=none'"]
    cfg, record = matched(overrides)
    first = cfg.model.widths[0]
    assert list(cfg.model.widths) == [first, 2 * first] == record["value"] and first > 16


@pytest.mark.parametrize("target", [1, 99, 100, 101, 5_000, 12_345, 999_999, 10 ** 9])
def test_closest_finds_the_nearest_value_of_a_count_that_grows_with_it(target):
    def count(v):
        return 100 * v * v

    best = closest(count, target, start=16, low=1, high=200)
    assert abs(count(best) - target) == min(abs(count(v) - target) for v in range(1, 201))


@pytest.mark.parametrize("extra, words", [
    (["match.params='sharing=none'", "match.macs='sharing=none'"], ["match.params and match.macs", "one measure"]),
    (["match.params='model.width=64 sharing=none'", "match.tolerance=0.001"],
     ["match.tolerance=0.001", "the closest is model.width=", "match.knob"]),
    (["match.params='sharing=none'", "match.knob=model.width_mult", "sharing=repeat"],
     ["model.width_mult follows another key", "sharing.k_rep"]),
    (["match.params='sharing=none'", "match.knob=model.depth"], ["model=resnet_cifar has no key depth", "width"]),
])
def test_what_cannot_be_matched_is_one_line_naming_the_key(extra, words):
    overrides = [o for o in CIFAR_RESNET if not o.startswith("match.knob")] + ["sharing=hard", *extra]
    if not any(o.startswith("match.knob") for o in extra):
        overrides.append("match.knob=model.width")
    with pytest.raises(ConfigError) as err:
        matched(overrides)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words), str(err.value)


def test_match_keys_are_validated_with_the_config():
    proc = run_entrypoint("match.tolerance=0", "match.knob=widen", module="repeatnet_repro.count")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "match.tolerance=0.0 is not valid" in proc.stderr or "match.knob=widen is not valid" in proc.stderr


def test_the_count_cli_prints_the_chosen_width_the_target_and_the_achieved_counts():
    """The issue's command as a shell passes it: the quotes around the reference's overrides are gone."""
    reference = "model=wrn model.depth=16 model.widen=4 sharing=none"
    proc = run_entrypoint("model=wrn", "model.depth=16", "sharing=soft", f"match.params={reference}",
                          "match.knob=model.widen", module="repeatnet_repro.count")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    target = count_composed(compose(reference.split()))["params"]
    assert out["match"]["reference"] == reference and out["match"]["target"] == target
    assert out["match"]["knob"] == "model.widen" and out["match"]["value"] == 4
    assert out["match"]["achieved"] == out["params"] and abs(out["params"] / target - 1) <= 0.05


def test_a_training_run_trains_the_matched_width_and_records_the_choice(tmp_path, fast_overrides):
    overrides = [*fast_overrides, "model.convs_per_stage=3", "sharing=hard", "match.knob=model.widths",
                 "match.params='sharing=none'", "budget=smoke", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = run_entrypoint(*overrides)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = read_summary(tmp_path / "run")
    cfg, expected = matched([o for o in overrides if not o.startswith("hydra.")])
    assert summary["match"] == expected and summary["params"] == expected["achieved"]
    assert OmegaConf.load(tmp_path / "run" / "config.yaml").model.widths == cfg.model.widths
    again = run_entrypoint(*overrides)  # the same command resumes: the same width, the run is complete
    assert again.returncode == 0 and "already completed" in again.stdout + again.stderr
