"""What every figure shares: atomic PNG+PDF output, the budget label of a title, the runs of one item."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from ...engine.atomic import atomic_write  # noqa: E402
from ..tables import budgets_of, largest_budget  # noqa: E402


#: no date and no software version in the files, so the same run records give byte-identical figures
METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def save(fig, stem: Path) -> Path:
    """Write `stem`.png and `stem`.pdf (atomically, like the run records); returns the PNG path. The
    suffix is appended: a stem may hold dots (compare's `by_sharing.name_curves`)."""
    for fmt in ("png", "pdf"):
        atomic_write(Path(f"{stem}.{fmt}"), lambda f: fig.savefig(
            f, format=fmt, dpi=150, bbox_inches="tight", metadata=METADATA[fmt]), mode="wb")
    plt.close(fig)
    return Path(f"{stem}.png")


def budget_title(runs: pd.DataFrame) -> str:
    """The budgets the runs ran at, with their epochs ('short 20ep'), so no figure hides a short run."""
    return "budget: " + (budgets_of(runs) or "unknown").replace(",", ", ")


def completed(runs: pd.DataFrame, paper: str, item: str) -> pd.DataFrame:
    """The finished runs of one item, per row at its largest budget (a failed or running run has no final
    result to draw)."""
    if runs.empty:
        return runs
    return largest_budget(runs[(runs.paper == paper) & (runs.item == item) & (runs.status == "completed")])


def read_json(path: Path) -> Optional[Any]:
    """A run artifact, or None when the run has not written it."""
    return json.loads(path.read_text()) if path.is_file() else None


def run_label(run: dict) -> str:
    """How a panel names its run: the paper's row label and the seed."""
    seed = run.get("seed")
    return f"{run.get('row')} (seed {int(seed)})" if pd.notna(seed) else str(run.get("row"))
