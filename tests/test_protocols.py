"""docs/protocols.md: every preset's protocol, field by field, with the source of each value.

The document is generated from the composed presets and docs/protocol_sources.yaml; a preset that changes
without its source entry, a field without an entry, an entry for nothing, and a data set option that no
field shows all fail here.
"""
from __future__ import annotations

import copy

import pytest

from repeatnet_repro.analysis import protocols
from repeatnet_repro.analysis.protocols import FIELDS, ProtocolError, markdown, presets, read_sources, resolve_sources


@pytest.fixture(scope="module")
def values():
    """Every preset's rendered fields (about 45 composes: ~10 s on one core)."""
    return protocols.all_fields()


def test_protocols_md_is_what_the_presets_and_sources_generate(values):
    committed = (protocols.DOCS / "protocols.md").read_text()
    assert markdown(values, read_sources()) == committed, \
        "docs/protocols.md is out of date: run `python scripts/protocols.py`"


def test_every_preset_has_every_field_with_a_current_source(values):
    assert list(values) == presets() and len(values) == 35  # the papers' 32, compare/resnet_cifar, vggnet, wrn
    documented = resolve_sources(values, read_sources())
    assert {name: sorted(fields) for name, fields in documented.items()} == \
        {name: sorted(FIELDS) for name in presets()}
    assert all(source.strip() for fields in documented.values() for source in fields.values())


def test_a_preset_that_changes_makes_its_entry_stale(values):
    changed = copy.deepcopy(values)
    changed["repeatnet/table3"]["epochs"] = "31"
    with pytest.raises(ProtocolError, match=r"repeatnet/table3\.epochs = '31', but the entry under "
                                            r"'repeatnet/table3' documents '30': stale"):
        resolve_sources(changed, read_sources())
    changed = copy.deepcopy(values)
    changed["softshare/table2"]["batch"] = "64"  # covered by the paper entry, which documents 128
    with pytest.raises(ProtocolError, match=r"softshare/table2\.batch = '64', but the entry under 'softshare'"):
        resolve_sources(changed, read_sources())


def test_missing_entries_and_entries_for_nothing_fail(values):
    sources = read_sources()
    del sources["sources"]["repeatnet"]["grad_clip"]  # the one entry covering all four RepeatNet presets
    sources["sources"]["repeatnet/table9"] = {"lr": {"value": "0.1", "source": "x"}}
    sources["sources"]["shardnet"]["warmup"] = {"value": "5", "source": "x"}
    with pytest.raises(ProtocolError) as err:
        resolve_sources(values, sources)
    message = str(err.value)
    assert "repeatnet/fig2.grad_clip = 'max norm 1': no source entry" in message
    assert "entry 'repeatnet/table9' names no preset or paper" in message
    assert "entry shardnet.warmup: no such field" in message


def test_an_entry_no_preset_uses_fails(values):
    sources = read_sources()
    sources["sources"]["softshare/table4"]["batch"] = {"value": "256", "source": "x"}
    with pytest.raises(ProtocolError, match=r"softshare/table4\.batch = '128', but the entry under 'softshare/table4'"):
        resolve_sources(values, sources)


def test_a_dataset_option_that_no_field_shows_fails(monkeypatch):
    keys = dict(protocols.DATASET_KEYS)
    keys["augmentation"] = tuple(k for k in keys["augmentation"] if k != "cutout")
    monkeypatch.setattr(protocols, "DATASET_KEYS", keys)
    with pytest.raises(ProtocolError, match=r"dataset cifar10 has option\(s\) \['cutout'\] that no protocol field"):
        protocols.fields(protocols.load("softshare/table4"))


def test_the_fields_read_the_composed_protocol(values):
    """A few fields against the papers and the authors' code, as the generator renders them."""
    rot = values["repeatnet/table3"]
    assert (rot["optimizer"], rot["lr"], rot["batch"], rot["grad_clip"]) == ("adam", "0.001", "64", "max norm 1")
    assert rot["augmentation"] == "rotate=true, upsample=3, vflip=true, flip=true"
    assert rot["normalisation"] == "normalize=false"
    assert values["softshare/table1"]["dropout"] == \
        "0 (SWRN 28-10-1, WRN 28-10, SWRN 28-10); 0.3 (WRN 28-10*, SWRN 28-10*)"
    assert values["softshare/table4"]["dropout"] == "0.3" and "cutout=16" in values["softshare/table4"]["augmentation"]
    assert values["softshare/table3"]["augmentation"] == "crop=224, color_jitter=0.4, lighting=0.1"
    assert values["shardnet/fig3"]["lr"] == "cifar10, cifar100: 0.05; tinyimagenet: 0.01", "per data set"
    assert values["softshare/table1"]["seeds"] == "range(5)"
