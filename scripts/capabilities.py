"""Write docs/capabilities.md: which sharing scheme applies to which model (see analysis/capabilities.py)."""
from pathlib import Path

from repeatnet_repro.analysis.capabilities import capabilities, markdown
from repeatnet_repro.engine.atomic import write_text

if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "docs" / "capabilities.md"
    rows = capabilities()
    write_text(out, markdown(rows))
    print(f"{len({r.model for r in rows})} models x {len({r.scheme for r in rows})} schemes: "
          f"{sum(r.applies for r in rows)} apply, {sum(not r.applies for r in rows)} refused -> {out}")
