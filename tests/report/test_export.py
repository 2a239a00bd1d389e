"""Each split's table as CSV and LaTeX next to the page, and every split in one Markdown table: the
same numbers as cells.csv, the best value of each column in bold, a tabular whose rows all have the
header's columns."""
import re

import pandas as pd

from benchmark.report import build_report
from benchmark.report.export import latex_escape

from .conftest import STUDY


def _outputs(dirs, split, metric):
    t = dirs.table()
    rows = t[(t["split"] == split) & (t["metric"] == metric) & (t["which"] == "output") & (t["kind"] != "input")]
    return rows.drop_duplicates(["cell"], keep="last").set_index("cell")["mean"].astype(float)


def test_each_split_gets_a_csv_with_the_cells_numbers_and_a_link_on_the_page(dirs):
    page = build_report(*dirs.args()).read_text()
    splits = sorted(set(dirs.table()["split"]))
    for split in splits:
        csv = pd.read_csv(dirs.reports / STUDY / f"{split}.csv")      # no dtype: hashes must come back as text
        assert f'href="{STUDY}/{split}.csv"' in page and f'href="{STUDY}/{split}.tex"' in page
        systems = csv[csv["kind"] != "input"]
        assert systems["cell"].map(type).eq(str).all() and systems["cell"].str.match(r"^#[0-9a-f]{8}$").all()
        systems = systems.assign(cell=systems["cell"].str[1:]).set_index("cell")
        expected = _outputs(dirs, split, "pesq_wb")
        assert set(systems.index) == set(expected.index)
        assert (systems["pesq_wb"] - expected[systems.index]).abs().max() < 1e-5
        assert csv["kind"].iloc[-1] == "input"                         # the input closes the table


def test_latex_is_a_booktabs_tabular_with_the_best_in_bold(dirs):
    build_report(*dirs.args())
    tex = (dirs.reports / STUDY / "test.tex").read_text()
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    spec = re.search(r"\\begin\{tabular\}\{([^}]*)\}", body).group(1).split()
    assert r"\toprule" in body and r"\midrule" in body and r"\bottomrule" in tex
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert all(line.count("&") == len(spec) - 1 for line in rows)     # every row fills the columns
    header = [c.strip() for c in rows[0][:-2].split("&")]
    col = header.index("PESQ-WB")
    bold = [r for r in rows[1:] if r"\textbf" in r.split("&")[col]]
    best = _outputs(dirs, "test", "pesq_wb").max()
    assert len(bold) >= 1 and all(f"{best:.2f}" in r.split("&")[col] for r in bold)
    assert "noisy input" in rows[-1] and r"\textbf" not in rows[-1]


def test_latex_escaping_covers_labels_with_symbols():
    assert latex_escape("OUVE · with_γ 50%") == r"OUVE $\cdot$ with\_$\gamma$ 50\%"
    assert latex_escape("a & b #1") == r"a \& b \#1"


def test_the_markdown_table_puts_every_split_side_by_side_with_the_csvs_numbers_and_bold(dirs):
    page = build_report(*dirs.args()).read_text()
    assert f'href="{STUDY}/tables.md"' in page
    lines = (dirs.reports / STUDY / "tables.md").read_text().splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    header, body = rows[0], rows[2:]
    assert all(len(r) == len(header) for r in rows)                   # a well-formed table
    splits = [h.split(" (input ")[0] for h in header[2:]]
    assert splits[0] == "test" and set(splits) == set(dirs.table()["split"])
    for col, split in enumerate(splits, start=2):
        csv = pd.read_csv(dirs.reports / STUDY / f"{split}.csv", dtype={"cell": str})
        noisy = csv[csv["kind"] == "input"].iloc[0]
        assert header[col].endswith(f"(input {noisy['pesq_wb']:.2f} / {noisy['estoi']:.3f} / {noisy['si_sdr']:.2f})")
        systems = csv[csv["kind"] != "input"].set_index("label")
        assert {r[0] for r in body if r[col] != "–"} == set(systems.index)
        for r in body:
            if r[col] == "–":
                continue
            pesq, estoi, si_sdr = r[col].split(" / ")
            cell = systems.loc[r[0]]
            assert pesq.strip("*") == f"{cell['pesq_wb']:.2f}" and estoi.strip("*") == f"{cell['estoi']:.3f}"
            assert si_sdr.strip("*") == f"{cell['si_sdr']:.2f}"
            assert pesq.startswith("**") == bool(cell["pesq_wb_bold"])    # the report's marks
            assert r[1] == f"{int(cell['nfe'])}"


def test_the_readmes_reference_tables_are_the_committed_reports_tables():
    """Each reference run page (docs/reference-runs/<study>.md, linked from the README) quotes
    reports/<study>/tables.md row for row, so a rerun's numbers cannot drift away from the prose that
    cites them."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    pages = sorted((repo / "docs" / "reference-runs").glob("*.md"))
    checked = []
    for page in pages:
        text = page.read_text()
        for study in re.findall(r"^## Reference run: `(\w+)`", text, flags=re.M):
            assert study == page.stem, f"{page.name} holds the reference section of {study}"
            section = text.split(f"## Reference run: `{study}`", 1)[1].split("\n## ", 1)[0]
            rows = [line for line in (repo / "reports" / study / "tables.md").read_text().splitlines()
                    if line.startswith("|")]
            assert len(rows) > 2
            missing = [r for r in rows if r not in section.splitlines()]
            assert not missing, f"{page.name}'s {study} section lacks {missing[:2]}"
            checked.append(study)
    assert checked, "docs/reference-runs/ has no reference section"
