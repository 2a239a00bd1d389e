"""The report's view by condition, from a conditions.csv beside the fixture's cells.csv."""
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
