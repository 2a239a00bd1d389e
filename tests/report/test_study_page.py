"""The study page's opening, its RTF by host and its one colour per method (issue 46): the fixture
study, recast where a case needs it (cells scored on two hosts, a contended run)."""
import html as html_lib
import re

import pandas as pd

from benchmark.report import build_report, costs, plots
from benchmark.report import conditions as by_condition
from benchmark.report.load import load_study
from benchmark.report.methods import method_names

from .conftest import STUDY, read_tables
from .test_build import main_table

AVX2, AVX512 = "cpu (2 cores, x86_64, AVX2)", "cpu (2 cores, x86_64, AVX512 with native bf16)"


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def items(page: str, css: str) -> list[str]:
    """The text of each <li> of the first <ul class="css">."""
    block = re.search(rf'<ul class="{css}">(.*?)</ul>', page, re.S).group(1)
    return [text_of(li) for li in re.findall(r"<li[^>]*>(.*?)</li>", block, re.S)]


def two_hosts(dirs, contended: bool = False) -> None:
    """The fixture's pc cells timed on one host, the rest on another; `contended`: one heun N=4 cell's
    RTF ten times its siblings'."""
    table = dirs.table()
    table["device"] = table["sampler"].map(lambda s: AVX512 if s == "pc N=30" else AVX2)
    if contended:
        slow = (table["sde"] == "ouve") & (table["sampler"] == "heun N=4")
        table.loc[slow, "rtf"] = "1.0"
    dirs.save(table)


def rtf_columns(rows) -> list[int]:
    return [i for i, (text, _) in enumerate(rows[0]) if text.startswith("RTF")]


def test_cells_of_two_hosts_have_an_rtf_column_each(dirs):
    two_hosts(dirs)
    page = build_report(*dirs.args()).read_text()
    rows = main_table(page)
    columns = rtf_columns(rows)
    assert [rows[0][i][0] for i in columns] == ["RTF AVX2", "RTF AVX512 with native bf16"]
    header = [text for text, _ in rows[0]]
    table = dirs.table().drop_duplicates("cell")
    for row in rows[1:]:
        label = row[header.index("label")][0]
        cell = table[table["label"] == label].iloc[0]
        shown = [row[i][0] for i in columns]
        if cell["kind"] == "input":
            assert shown == ["—", "—"]
            continue
        own = columns.index(columns[0] if cell["device"] == AVX2 else columns[1])
        assert shown[1 - own] == "—" and shown[own] != "—"          # never in the other host's column
    assert f"AVX2 = {AVX2}" in html_lib.unescape(page) and "never on one scale" in html_lib.unescape(page)


def test_one_host_keeps_one_rtf_column_and_names_it(dirs):
    rows = main_table(build_report(*dirs.args()).read_text())
    assert [rows[0][i][0] for i in rtf_columns(rows)] == ["RTF"]


def test_an_outlier_rtf_on_its_host_is_marked_contended_and_left_out_of_the_cost_plot(dirs):
    two_hosts(dirs, contended=True)
    page = html_lib.unescape(build_report(*dirs.args()).read_text())
    rows = main_table(page)
    header = [text for text, _ in rows[0]]
    marked = [row[header.index("label")][0] for row in rows[1:]
              if any("contended?" in row[i][0] for i in rtf_columns(rows))]
    assert marked == ["ouve γ=0 · heun N=4"]
    assert "Left out as contended? (the run likely shared its CPU while timed): ouve γ=0 · heun N=4" in page


def test_contended_needs_three_cells_on_the_host_and_three_times_the_median():
    summary = pd.DataFrame({"cell": list("abcde"), "kind": "diffusion", "nfe": [5.0, 5.0, 5.0, 15.0, 5.0],
                            "rtf": [0.18, 0.19, 1.21, 0.6, 1.21], "label": list("abcde"),
                            "device": [AVX2, AVX2, AVX2, AVX2, AVX512]})
    why = costs.contended(summary)
    assert list(why != "") == [False, False, True, False, False]          # e: alone on its host
    assert why[2] == "RTF/NFE 6.2× its host's median"
    # The same cell on the study's other splits: 2.5× its own median is a loaded machine, not the method.
    table = pd.DataFrame({"cell": ["d"] * 3, "split": ["test", "test_mismatched", "real"], "rtf": [1.5, 0.6, 0.64]})
    assert costs.contended(summary.assign(rtf=[0.18, 0.19, 0.2, 1.5, 0.2]), table).tolist() == [
        "", "", "", "RTF 2.3× this cell's median over the splits", ""]
    assert costs.short_names([AVX2, AVX512]) == {AVX2: "AVX2", AVX512: "AVX512 with native bf16"}
    assert costs.short_names(["cpu", "cpu (x)"]) == {"cpu": "host A", "cpu (x)": "host B"}


def test_the_page_opens_with_its_claim_checks_own_sentences(dirs):
    page = build_report(*dirs.args()).read_text()
    opening, check = items(page, "findings"), items(page, "claims")
    assert 2 <= len(opening) <= 4
    assert all(sentence in check for sentence in opening)         # the same Claim objects, not reworded
    assert page.index('<ul class="findings">') < page.index("How to read the result")
    assert "Other sources, for context only" not in page and "the scorecard</a>" in page


def test_the_cross_split_table_has_a_row_per_split(dirs):
    page = html_lib.unescape(build_report(*dirs.args()).read_text())
    overview = next(t for t in read_tables(page) if [c for c, _ in t[0][:2]] == ["split", "noisy input"])
    splits = list(dict.fromkeys(dirs.table()["split"]))
    assert [row[0][0] for row in overview[1:]] == splits
    table = dirs.table()
    best = table[(table["split"] == "test") & (table["metric"] == "pesq_wb") & (table["which"] == "output")
                 & (table["kind"] == "diffusion")]
    top = best.loc[best["mean"].astype(float).idxmax()]
    assert overview[1][3][0] == top["label"] and overview[1][2][0].startswith(f"{float(top['mean']):.2f} ± ")


def test_every_plot_of_the_page_gets_the_one_colour_map(dirs, monkeypatch):
    seen = []
    for name in ("cell_plot", "nfe_plot", "rtf_plot"):
        original = getattr(plots, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(args[3])                                 # each plot's colours argument
            return _original(*args, **kwargs)
        monkeypatch.setattr(plots, name, spy)
    original_snr = by_condition.snr_plot

    def snr_spy(*args, **kwargs):
        seen.append(args[4])                                     # the input-SNR plot's colours too
        return original_snr(*args, **kwargs)
    monkeypatch.setattr(by_condition, "snr_plot", snr_spy)
    build_report(*dirs.args())
    assert len(seen) == 2 * 4 and all(colours is seen[0] for colours in seen)   # two splits, one map
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    assert set(method_names(dirs.table(), study).values()) - {"noisy input"} <= set(seen[0])
