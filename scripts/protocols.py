"""Write docs/protocols.md: every preset's protocol fields beside their sources (see analysis/protocols.py).

    python scripts/protocols.py           # regenerate; fails naming each field without a current source entry

It composes every row of every preset and builds each distinct model once on the CPU for the init probe:
a few minutes.
"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from repeatnet_repro.analysis.protocols import DOCS, ProtocolError, document  # noqa: E402
from repeatnet_repro.engine.atomic import write_text  # noqa: E402

if __name__ == "__main__":
    try:
        text = document()
    except ProtocolError as err:
        sys.exit(f"error: {err}")
    write_text(DOCS / "protocols.md", text)
    presets = sum(line.startswith("## ") and line != "## Pending" for line in text.splitlines())
    print(f"{presets} presets -> {DOCS / 'protocols.md'}")
