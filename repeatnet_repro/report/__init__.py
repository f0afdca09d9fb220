"""Run records -> pandas -> every paper table and figure (`python -m repeatnet_repro.report`), and any runs
compared by config keys (`report.compare`)."""
from .collect import load_metrics, load_runs
from .figures import learning_curves
from .index import write_index
from .tables import DERIVED, QUANTITIES, build_table, load_reported, render_tables

__all__ = ["DERIVED", "QUANTITIES", "build_table", "learning_curves", "load_metrics", "load_reported", "load_runs",
           "render_tables", "write_index"]
