"""The numbers the README quotes are the committed results' (which `make results` rebuilds from the curated run
records, tests/test_results_layout.py): a rerun that changes a result makes the README's sentence fail here."""
from __future__ import annotations

import re

import pandas as pd

from conftest import REPO

README = (REPO / "README.md").read_text()
COLUMNS = ["none", "hard @ params", "soft @ params", "repeat @ params", "hard @ macs", "soft @ macs",
           "repeat @ macs"]
BACKBONES = {"CIFAR ResNet": "resnet_cifar", "WRN-16-1": "wrn", "VGGNet": "vggnet"}


def readme_benchmark() -> dict:
    """(backbone, row) -> (mean, std) as the README's cross-scheme table prints them."""
    out = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = next((b for b in BACKBONES if cells[0].startswith(b + " (")), None)
        if name and len(cells) == 1 + len(COLUMNS):
            for row, cell in zip(COLUMNS, cells[1:]):
                mean, std = map(float, re.fullmatch(r"([\d.]+) ± ([\d.]+)", cell).groups())
                out[(BACKBONES[name], row)] = (mean, std)
    return out


def test_the_readmes_cross_scheme_table_is_the_committed_benchmark_table_rounded():
    quoted = readme_benchmark()
    table = pd.read_csv(REPO / "results" / "tables" / "compare_benchmark_cifar10.csv")
    assert len(quoted) == len(table) == 21
    for line in table.itertuples():
        mean, std = quoted[(line.backbone, line.row)]
        assert abs(mean - line.acc) <= 0.05 + 1e-9 and abs(std - line.std) <= 0.05 + 1e-9, (line.backbone, line.row)
    assert "19,200 training images per run" in README and set(table.train_images) == {19_200}
