"""The report's view by condition, from a conditions.csv beside the fixture's cells.csv or from the
cells' per-utterance tags."""
import pandas as pd

from benchmark.report import build_report

from .conftest import STUDY, read_tables


def _write_conditions(dirs):
    t = dirs.table()
    out = t[(t["split"] == "test") & (t["kind"] != "input")].drop_duplicates("cell")
    rows = []
    for _, c in out.iterrows():
        for value, delta in (("< 0 dB", -0.3), ("≥ 15 dB", 0.4)):
            for which, mean in (("input", 1.2), ("output", 1.2 + delta), ("delta", delta)):
                rows.append({"study": STUDY, "cell": c["cell"], "kind": c["kind"], "label": c["label"],
                             "split": "test", "condition": "snr", "value": value, "metric": "pesq_wb",
                             "which": which, "mean": mean, "ci95": 0.1, "n": 20})
    pd.DataFrame(rows).to_csv(dirs.results / STUDY / "conditions.csv", index=False)


def test_the_page_shows_deltas_by_snr_band_for_the_best_diffusion_cell_and_the_baseline(dirs):
    html = build_report(*dirs.args()).read_text()
    assert "By condition" not in html                       # no conditions.csv, no section
    _write_conditions(dirs)
    html = build_report(*dirs.args()).read_text()
    table = next(t for t in read_tables(html) if t and t[0][0][0] == "input SNR")
    header = [text for text, _ in table[0]]
    assert header[:3] == ["input SNR", "n", "input"] and len(header) == 5 and header[4].startswith("Δ predictive")
    assert [r[0][0] for r in table[1:]] == ["< 0 dB", "≥ 15 dB"]          # low SNR first
    low, high = table[1], table[2]
    assert low[3][0] == "-0.30 ± 0.10" and "down" in low[3][1]
    assert high[3][0] == "+0.40 ± 0.10" and "up" in high[3][1]
    assert "by input-SNR band" in html


def test_the_means_by_condition_come_from_a_cells_per_utterance_tags_where_it_has_them(dirs):
    """conditions.csv is derived: a cell's per_utterance.csv (its cond_* tags) gives the means, and
    wins over stale rows of the file; a cell without one keeps the file's rows."""
    n = 20
    table = dirs.table()
    table = table[(table["split"] == "test") & (table["metric"] == "pesq_wb")].copy()
    table["n"], table["n_nan"] = str(n), "0"
    dirs.save(table)
    _write_conditions(dirs)                                   # every cell: -0.30 and +0.40
    baseline = table[table["kind"] == "predictive"]["cell"].iloc[0]
    low = [i < n // 2 for i in range(n)]
    delta = [(-0.5 if lo else 0.25) + 0.01 * (i % 3) for i, lo in enumerate(low)]
    folder = dirs.results / STUDY / "cells" / baseline
    folder.mkdir(parents=True)
    pd.DataFrame({"split": "test", "name": [f"u{i}" for i in range(n)], "metric": "pesq_wb",
                  "input": 1.2, "output": [1.2 + d for d in delta], "delta": delta, "floored": False,
                  "cond_snr": ["< 0 dB" if lo else "≥ 15 dB" for lo in low], "cond_noise": "",
                  "cond_speaker": ""}).to_csv(folder / "per_utterance.csv", index=False)

    html = build_report(*dirs.args()).read_text()
    rows = next(t for t in read_tables(html) if t and t[0][0][0] == "input SNR")[1:]
    want = pd.Series(delta).groupby(low).mean()
    assert rows[0][4][0].startswith(f"{want[True]:+.2f} ± ") and rows[1][4][0].startswith(f"{want[False]:+.2f} ± ")
    assert rows[0][3][0] == "-0.30 ± 0.10" and rows[1][3][0] == "+0.40 ± 0.10"   # no file: the rows kept
    (dirs.results / STUDY / "conditions.csv").unlink()
    html = build_report(*dirs.args()).read_text()
    rows = next(t for t in read_tables(html) if t and t[0][0][0] == "input SNR")[1:]
    assert [r[1][0] for r in rows] == ["10", "10"] and rows[0][4][0].startswith(f"{want[True]:+.2f}")
    assert "Δ predictive" in html and len(rows[0]) == 5             # a diffusion cell with no rows: blank
