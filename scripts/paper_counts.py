"""Write docs/paper_counts.md: every count the papers print, beside ours (see analysis/paper_counts.py)."""
from pathlib import Path

from repeatnet_repro.analysis.paper_counts import comparison, load_cases, markdown
from repeatnet_repro.engine.atomic import write_text

if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "docs" / "paper_counts.md"
    rows = comparison(load_cases())
    write_text(out, markdown(rows))
    print(f"{len(rows)} counts, {sum(r['match'] == 'yes' for r in rows)} match, "
          f"{sum(r['match'] == 'paper slip' for r in rows)} documented paper slips -> {out}")
