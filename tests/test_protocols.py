"""docs/protocols.md: every preset's protocol, field by field, with the source of each value.

The document is generated from the composed presets and docs/protocol_sources.yaml; a preset that changes
without its source entry, a field without an entry, an entry for nothing, and a data set option that no
field shows all fail here.
"""
from __future__ import annotations

import copy
import re

import pytest

from repeatnet_repro.analysis import protocols
from repeatnet_repro.analysis.protocols import FIELDS, ProtocolError, markdown, presets, read_sources, resolve_sources
from repeatnet_repro.config import compose


@pytest.fixture(scope="module")
def values():
    """Every preset's rendered fields: about 250 composes and 160 model builds for the init probe (a few minutes
    on a busy two-core machine)."""
    return protocols.all_fields()


def document_table(name: str) -> dict:
    """field -> 'ours' cell of the preset's table in the committed docs/protocols.md."""
    text = (protocols.DOCS / "protocols.md").read_text()
    section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in section.splitlines() if line.startswith("| ")]
    return {c[0].strip(): c[1].strip().replace("\\|", "|") for c in cells[1:]}


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


@pytest.mark.parametrize("name", ["repeatnet/table3", "shardnet/table2b", "softshare/table3", "compare/wrn"])
def test_the_committed_document_states_what_the_preset_composes_to(name):
    """Read back from docs/protocols.md, not from the generator: a field the document misstates fails here."""
    cfg, doc = compose([f"experiment={name}"]), document_table(name)
    t = cfg.trainer
    assert doc["lr"] == f"{cfg.optimizer.lr:g}" and doc["epochs"] == str(t.epochs) and doc["batch"] == str(t.batch_size)
    assert doc["precision"].split(":")[0].split(" ")[0] == {"auto": "auto", "fp32": "fp32", "bf16": "bf16"}[t.precision]
    assert doc["drop_last"] == ("null (the data set's habit)" if t.drop_last is None else str(t.drop_last).lower())
    assert doc["deterministic"] == str(t.deterministic).lower()
    assert doc["grad_clip"] == (f"max norm {t.grad_clip:g}" if t.grad_clip else "none")
    assert doc["optimizer"] == cfg.optimizer.name


def test_the_repeatnet_presets_state_their_authors_loader_and_trainer_flags(values):
    for name in ("repeatnet/table1", "repeatnet/table2", "repeatnet/table3", "repeatnet/fig2"):
        assert (values[name]["drop_last"], values[name]["deterministic"]) == ("true", "true"), name
    assert values["softshare/table1"]["drop_last"] == "null (the data set's habit)"
    assert values["softshare/table1"]["precision"] == protocols.PRECISION["auto"]


def test_the_init_field_is_read_off_the_built_models(values):
    """Probed, not written: ShardNet ResNets start their blocks as identities and blend with Glorot 1x1s; the
    RepeatNet ResNet-16 keeps the authors' BN shift 0.01; soft sharing's alpha starts orthogonal."""
    table8 = values["shardnet/table8"]["init"]
    assert "linear 1x1 conv (no BN after): Glorot-uniform" in table8 and "BN scale: 1, but 0 on" in table8
    assert "BN shift: 0.01" in values["repeatnet/table1"]["init"]
    assert "soft alpha: orthogonal" in values["softshare/table1"]["init"]


def test_a_builder_whose_init_changes_makes_the_init_entry_stale(monkeypatch, values):
    from repeatnet_repro.models import shardnet_resnet

    monkeypatch.setattr(shardnet_resnet, "LINEAR_INIT", "kaiming_normal")
    monkeypatch.setattr(protocols, "_PROBES", {})
    changed = copy.deepcopy(values)
    changed["shardnet/table8"] = protocols.fields(protocols.load("shardnet/table8"))
    assert "linear 1x1 conv (no BN after): He-normal fan_in" in changed["shardnet/table8"]["init"]
    with pytest.raises(ProtocolError, match=r"shardnet/table8\.init = .*stale"):
        resolve_sources(changed, read_sources())
