"""The .tex tables: booktabs tabulars in the paper's layout (rows x columns, paper value beside ours), with
every header and cell escaped so that they compile. No TeX engine installs from PyPI: the structure and the
escaping are always checked, and where pdflatex is on PATH (Debian: texlive-latex-recommended) every table
the report CLI writes is compiled."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO
from repeatnet_repro.report import build_table, load_reported, load_runs, render_tables
from repeatnet_repro.report.tables import latex_table, to_latex, to_markdown
from test_report import records  # noqa: F401  (fixture: softshare/table1 runs)

NASTY = "50% a_b & c #1 $x$ {y} ~z ^w \\q"
ESCAPED = r"50\% a\_b \& c \#1 \$x\$ \{y\} \textasciitilde z \textasciicircum w \textbackslash q"


def cells(line: str) -> list:
    """The cells of one tabular line (split at the unescaped &)."""
    return [c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix(r"\\").strip())]


def test_every_latex_special_character_in_headers_and_cells_is_escaped():
    tex = latex_table(pd.DataFrame({NASTY: [NASTY], "plain": ["4.50 ± 0.71 (n=2, short 3ep)"]}))
    header, body = tex.splitlines()[2], tex.splitlines()[4]
    assert cells(header) == [ESCAPED, "plain"]
    assert cells(body) == [ESCAPED, "4.50 ± 0.71 (n=2, short 3ep)"]


def test_tex_table_is_booktabs_in_the_markdown_tables_layout(records):  # noqa: F811
    table = build_table("softshare", "table1", load_reported(REPO / "results" / "paper"), load_runs(records))
    lines = to_latex(table).splitlines()
    columns = list(dict.fromkeys(table.column))
    assert lines[0] == r"\begin{tabular}{" + "l" * (1 + 2 * len(columns)) + "}"
    assert [lines[1], lines[4], lines[-2], lines[-1]] == [r"\toprule", r"\midrule", r"\bottomrule", r"\end{tabular}"]
    assert cells(lines[2]) == ["row", *(rf"\multicolumn{{2}}{{c}}{{{c}}}" for c in columns)]
    assert cells(lines[3]) == ["", *["paper", "reproduced"] * len(columns)]
    body = {cells(line)[0]: cells(line) for line in lines[5:-2]}
    markdown = to_markdown(table, "softshare/table1")
    assert len(body) == len(set(table.row)) and all(f"| {row} " in markdown for row in set(table.row))
    wrn = body["WRN 28-10"]
    at = 1 + 2 * columns.index("error@cifar10")
    assert wrn[at:at + 2] == ["4.00", "4.50 ± 0.71 (n=2, short 3ep)"]  # paper value beside ours


def test_row_labels_of_run_records_are_escaped_in_the_tex_table(tmp_path):
    from test_report import record

    root = tmp_path / "runs"
    record(root, "a", paper="mine", item="t", row="k_rep=2 & 50%", dataset="digits", accs=[90.0])
    tex = to_latex(build_table("mine", "t", load_reported(REPO / "results" / "paper"), load_runs(root)))
    assert r"k\_rep=2 \& 50\%" in tex and "k_rep" not in tex


def test_an_item_whose_only_run_failed_still_gets_a_complete_tabular(tmp_path):
    from test_report import record

    root = tmp_path / "runs"
    record(root, "a", paper="mine", item="t", row="r", dataset="digits", accs=[90.0], status="failed")
    render_tables(load_reported(REPO / "results" / "paper"), load_runs(root), tmp_path / "tables")
    assert "(no rows)" in (tmp_path / "tables" / "mine_t.md").read_text()
    tex = (tmp_path / "tables" / "mine_t.tex").read_text()
    assert tex.startswith(r"\begin{tabular}{l}") and tex.rstrip().endswith("\\bottomrule\n\\end{tabular}")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (apt-get install texlive-latex-recommended)")
def test_every_tex_table_the_report_writes_compiles_with_booktabs(records, tmp_path):  # noqa: F811
    """What a paper's author would do with them: \\input every table into a document and run LaTeX."""
    from test_report import record

    record(records, "nasty", paper="mine", item="t", row=NASTY, dataset="digits", accs=[90.0])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "repeatnet_repro.report", "tables", "--runs", str(records),
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    tables = sorted((out / "tables").glob("*.tex"))
    assert len(tables) > 20 and out / "tables" / "mine_t.tex" in tables
    body = "\n".join(rf"\noindent\resizebox{{\linewidth}}{{!}}{{\input{{{t.name}}}}}\par" for t in tables)
    (out / "tables" / "all.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n"
                                            "\\usepackage{graphicx}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    tex = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"], cwd=out / "tables",
                         capture_output=True, text=True, timeout=120)
    assert tex.returncode == 0, tex.stdout[-3000:]
    assert (out / "tables" / "all.pdf").read_bytes()[:4] == b"%PDF"
