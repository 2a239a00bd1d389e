"""One set of scores per cell hash (scorecard.owner): a cell that two studies scored differently (its
model retrained on another host) is read from one study wherever it appears, and the index says so."""
import shutil

import pandas as pd
import pytest

from benchmark.report import scorecard
from benchmark.report.index import build_index

from .test_scorecard import STUDIES, drift_effect, fake_study


@pytest.fixture
def root(tmp_path):
    shutil.copytree(STUDIES, tmp_path / "studies")
    return tmp_path


def rescored(axes, kind):
    """drift_and_prior's scores of the cells it shares with sde_ablation: 0.01 higher, as if retrained
    (its predictive baseline differs too: fake_study draws each cell's noise in the study's order)."""
    return drift_effect(0.0)(axes, kind) + (0.01 if kind == "diffusion" else 0.0)


def shared_cells(root) -> set[str]:
    cells = {s: pd.read_csv(root / "results" / s / "cells.csv", dtype=str) for s in ("sde_ablation", "drift_and_prior")}
    diffusion = {s: set(t.loc[t["kind"] == "diffusion", "cell"]) for s, t in cells.items()}
    return diffusion["sde_ablation"] & diffusion["drift_and_prior"]


def test_a_cell_scored_twice_is_read_from_the_study_that_keeps_its_scores_everywhere(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    scorecard.load_all(root / "results", root / "studies")       # its pairs.csv, from its own scores
    shutil.rmtree(root / "results" / "sde_ablation" / "cells")    # then kept none (as the committed run)
    kept_pairs = (root / "results" / "sde_ablation" / "pairs.csv").read_text()
    fake_study(root, "drift_and_prior", rescored)
    shared = shared_cells(root)
    assert len(shared) == 4                   # cosine and OUVE (SGMSE+), with and without drift, embedded

    data = scorecard.load_all(root / "results", root / "studies")
    records = {r.cell: r for r in scorecard.two_sets(data)}
    assert shared <= set(records)
    sde, dap = data["sde_ablation"], data["drift_and_prior"]
    for cell in shared:
        r = records[cell]
        assert r.used == "drift_and_prior" and set(r.means) == {"sde_ablation", "drift_and_prior"}
        assert "only drift_and_prior keeps the cell's per-utterance scores" in r.why
        assert abs(r.means["drift_and_prior"] - r.means["sde_ablation"]) > 1e-3
        # one set: sde_ablation's mean of the cell and its outputs are drift_and_prior's
        mean = {d.name: d.summary.set_index("cell").loc[cell, "pesq_wb"] for d in (sde, dap)}
        assert mean["sde_ablation"] == pytest.approx(mean["drift_and_prior"])
        assert mean["drift_and_prior"] == pytest.approx(r.means["drift_and_prior"])
        pd.testing.assert_series_equal(sde.outputs(cell), dap.outputs(cell))
    assert set(sde.two_sets) == set(records) and not dap.two_sets     # the predictive baseline too

    # sde_ablation's drift comparison on OUVE (SGMSE+) is paired on drift_and_prior's outputs, not
    # the kept pairs.csv's (sde_ablation's own set), which stays on disk as it was
    row = sde.pairs[(sde.pairs["axis"] == "drift") & (sde.pairs["context"] == "sde=OUVE (SGMSE+)")
                    & (sde.pairs["split"] == "test") & (sde.pairs["metric"] == "pesq_wb")].iloc[0]
    paired = (dap.outputs(row["cell"]) - dap.outputs(row["reference_cell"])).mean()
    assert row["mean"] == pytest.approx(paired)
    assert (root / "results" / "sde_ablation" / "pairs.csv").read_text() == kept_pairs

    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    note = html[html.index('id="two-sets"'):html.index("<h2>Studies</h2>")]
    for cell in shared:
        r = records[cell]
        assert cell in note
        for study, mean in r.means.items():
            assert f"{study}: PESQ-WB {mean:.4f}" in note
    assert note.count("<td>drift_and_prior</td>") == len(records)


def test_where_both_keep_their_scores_the_study_that_scored_the_cell_first_is_used(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    fake_study(root, "drift_and_prior", rescored)
    cells = root / "results" / "sde_ablation" / "cells.csv"
    table = pd.read_csv(cells, dtype=str)
    table["finished_at"] = "2020-01-01T00:00:00+00:00"          # sde_ablation ran first
    table.to_csv(cells, index=False)
    data = scorecard.load_all(root / "results", root / "studies")
    records = {r.cell: r for r in scorecard.two_sets(data)}
    for cell in shared_cells(root):
        r = records[cell]
        assert r.used == "sde_ablation" and "sde_ablation scored it first (2020-01-01" in r.why
        assert data["drift_and_prior"].summary.set_index("cell").loc[cell, "pesq_wb"] == pytest.approx(
            r.means["sde_ablation"])
        pd.testing.assert_series_equal(data["drift_and_prior"].outputs(cell), data["sde_ablation"].outputs(cell))
    assert not data["sde_ablation"].two_sets


def test_cells_shared_with_one_set_of_scores_raise_no_note(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    data = scorecard.load_all(root / "results", root / "studies")
    assert scorecard.two_sets(data) == []
    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    assert 'id="two-sets"' not in html
