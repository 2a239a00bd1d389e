import json
import re
import subprocess
import sys

import pytest

from benchmark.report import ReportError, build_report

from .conftest import STUDY, read_tables


def build(dirs) -> str:
    path = build_report(*dirs.args())
    assert path == dirs.reports / f"{STUDY}.html"
    return path.read_text()


def main_table(html: str, split_index: int = 0):
    """The 'all cells' table of a split: the first table with a '#' header after the refs."""
    tables = [t for t in read_tables(html) if t and t[0] and t[0][0][0] == "#"]
    return tables[split_index]


def test_best_value_per_metric_is_bold_in_the_main_table(dirs):
    html = build(dirs)
    rows = main_table(html)
    header = [text for text, _ in rows[0]]
    pesq = next(i for i, h in enumerate(header) if h.startswith("PESQ-WB"))
    bold = [row for row in rows[1:] if "best" in row[pesq][1]]
    table = dirs.table()
    outputs = table[(table["split"] == "test") & (table["metric"] == "pesq_wb")
                    & (table["which"] == "output")]
    best = outputs.loc[outputs["mean"].astype(float).idxmax()]
    assert len(bold) == 1 and bold[0][header.index("label")][0] == best["label"]
    assert rows[1][header.index("label")][0] == best["label"]          # sorted, best first
    kinds = {row[1][0] for row in rows[1:]}
    assert {"input", "predictive", "diffusion"} == kinds


def test_page_loads_nothing_from_outside_its_own_folder(dirs):
    from .test_listening import _write_examples

    _write_examples(dirs)
    html = build(dirs)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert "<img" in html and "<script" not in html.lower()
    assert not re.search(r"https?://|(src|href)=\"//|@import|url\(", text)
    sources = re.findall(r'src="([^"]*)"', html)
    files = [s for s in sources if not s.startswith("data:image/png;base64,")]
    assert files and all(s.startswith(f"{STUDY}/clips/") and (dirs.reports / s).is_file() for s in files)


def test_header_footer_and_a_link_to_the_published_figures(dirs):
    html = build(dirs)
    meta = json.loads((dirs.results / STUDY / "meta.json").read_text())
    assert "SDE ablation" in html and "larger influence on performance" in html
    assert "the paper's own tables are not available" in html
    assert meta["git_commit"] in html and "torch 2.13.0" in html
    assert "10 cells in the table" in html and "9 of 9 diffusion grid points" in html
    # Other people's figures are the scorecard's, once; a study page points there.
    assert "2.93 at 60 NFE" not in html and "Other sources" not in html
    assert 'Published figures for scale (other systems, VoiceBank-DEMAND): see <a href="index.html#published">' in html


def test_claim_sentence_follows_the_data(dirs):
    assert "Best sde: oucosine" in build(dirs)
    table = dirs.table()
    boost = (table["sde"] == "ouve") & (table["which"] == "output")
    table.loc[boost, "mean"] = (table.loc[boost, "mean"].astype(float) + 5).astype(str)
    dirs.save(table)
    assert "Best sde: ouve " in build(dirs)


def test_partial_table_renders_and_lists_what_is_missing(dirs):
    table = dirs.table()
    gone = (table["sde"] == "ouvp") | ((table["sde"] == "ouve") & (table["sampler"] == "heun N=4"))
    dirs.save(table[~gone])
    html = build(dirs)
    assert "5 of 9 diffusion grid points, 4 not yet in the table" in html
    assert "sde=ouve · sampler=heun N=4" in html
    assert len(main_table(html)) == 1 + 5 + 2                  # header, 5 cells, input, predictive
    assert html.count("<img") == 2 * 4         # both splits keep all four plots (cells, NFE, RTF, heatmap)


def test_single_cell_no_input_rows_and_nan(dirs):
    table = dirs.table()
    one = table[table["cell"] == table.loc[table["kind"] == "diffusion", "cell"].iloc[0]].copy()
    one.loc[(one["metric"] == "estoi") & (one["which"] == "output"), "mean"] = "nan"
    dirs.save(one)
    html = build(dirs)
    assert "Only sde = " in html and "n/a" in html
    assert len(main_table(html)) == 2


def test_empty_table_renders(dirs):
    dirs.save(dirs.table().iloc[:0])
    assert "No cell has finished yet" in build(dirs)


def test_missing_results_name_the_file(dirs):
    dirs.cells.unlink()
    with pytest.raises(ReportError, match=re.escape(str(dirs.cells))):
        build_report(*dirs.args())


def test_command_line(dirs):
    run = [sys.executable, "-m", "benchmark.report"]
    name, results, reports, studies = dirs.args()
    ok = subprocess.run([*run, f"study={name}", f"results={results}", f"reports={reports}",
                         f"studies={studies}"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [str(reports / f"{name}.html"), str(reports / "index.html")]
    every = subprocess.run([*run, f"results={results}", f"reports={reports}", f"studies={studies}"],
                           capture_output=True, text=True)      # no study=: all with results
    assert every.returncode == 0 and every.stdout.split() == ok.stdout.split(), every.stderr
    missing = subprocess.run([*run, "study=nope", f"studies={studies}"], capture_output=True,
                             text=True)
    assert missing.returncode == 1 and "nope.yaml: study file not found" in missing.stderr
    bad = subprocess.run([*run, "stduy=x"], capture_output=True, text=True)
    assert bad.returncode == 2 and "stduy=x" in bad.stderr
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "study=NAME" in helped.stdout and "results=runs" in helped.stdout
