"""A user's run checked against the reference run, cell by cell (issue 47)."""
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark.driver import ledger
from benchmark.report import reproduction
from benchmark.report.build import build_report
from benchmark.report.load import load_cells, load_study
from tests.report.conftest import FIXTURES, STUDY, Tables

METRICS = ("pesq_wb", "estoi", "si_sdr")


def _scores(folder, cell, shift=0.0, noise=0.0, seed=0, swing=0.0):
    """A per-utterance file of `cell` for every split and metric its cells.csv rows name (as many
    utterances as they say): fixed scores plus `shift` and noise."""
    rng = np.random.default_rng(seed)
    table = pd.read_csv(FIXTURES / "results" / STUDY / "cells.csv", dtype={"cell": str})
    mine = table[(table["cell"] == cell) & (table["which"] == "output")]
    rows = []
    for (split, metric), g in mine.groupby(["split", "metric"]):
        n, base = int(g["n"].iloc[0]), float(g["mean"].iloc[0])
        # swing: ± that many tolerances, alternating: a mean difference of 0 with a wide CI
        wide = swing * reproduction.TOLERANCE.get(metric, 0) * (-1) ** np.arange(n)
        out = base + np.linspace(-0.25, 0.25, n) + shift + noise * rng.standard_normal(n) + wide
        rows += [{"split": split, "name": f"{split}_{i:05d}", "metric": metric, "input": base, "output": o,
                  "delta": o - base} for i, o in enumerate(out)]
    path = ledger.per_utterance(folder, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)


@pytest.fixture
def two_runs(tmp_path):
    """The fixture study as the reference and as a user's run, with per-utterance files made so
    that each verdict occurs once."""
    ref, run = tmp_path / "reference", tmp_path / "runs"
    for root in (ref, run):
        shutil.copytree(FIXTURES / "results" / STUDY, root / STUDY)
    cells = pd.read_csv(ref / STUDY / "cells.csv", dtype=str)
    systems = [c for c in cells.loc[cells["kind"] != "input", "cell"].unique()]
    same, close, far, unpaired, gone = systems[:5]
    for cell, shift, noise in ((same, 0, 0), (close, 0.002, 0.001), (far, 0.3, 0.01)):
        _scores(ref / STUDY, cell)
        _scores(run / STUDY, cell, shift=shift, noise=noise, seed=1)
    _scores(run / STUDY, unpaired)                      # the reference kept means only
    ref_cells = cells[cells["cell"] != gone]            # a cell the reference never scored
    ref_cells.to_csv(ref / STUDY / "cells.csv", index=False)
    return ref, run, dict(same=same, close=close, far=far, unpaired=unpaired, gone=gone)


def _verdicts(ref, run):
    study = load_study(FIXTURES / f"{STUDY}.yaml")
    table = load_cells(run / STUDY / "cells.csv", study)
    rows = reproduction.compare(STUDY, run / STUDY, table, ref)
    return rows, {(c["cell"], c["split"]): c for c in reproduction.by_cell(rows)}


def test_each_cell_gets_the_verdict_its_paired_difference_earns(two_runs):
    ref, run, who = two_runs
    rows, cells = _verdicts(ref, run)
    assert cells[(who["same"], "test")]["verdict"] == "identical"
    assert cells[(who["close"], "test")]["verdict"] == "reproduced"
    assert cells[(who["far"], "test")]["verdict"] == "differs"
    assert cells[(who["gone"], "test")]["verdict"] == "no reference"
    # the reference has no per-utterance file for this one: its equal means are compared, unpaired
    unpaired = cells[(who["unpaired"], "test")]
    assert unpaired["verdict"] == "reproduced" and not unpaired["paired"]
    far = rows[(rows["cell"] == who["far"]) & (rows["split"] == "test") & (rows["metric"] == "pesq_wb")].iloc[0]
    assert far["paired"] and far["delta"] == pytest.approx(0.3, abs=0.01) and far["n"] == 200
    assert set(rows["metric"]) == set(METRICS)          # the judged metrics only


def test_a_difference_too_noisy_to_pin_within_the_tolerance_is_not_resolved(two_runs):
    ref, run, who = two_runs
    _scores(run / STUDY, who["close"], swing=10)
    _, cells = _verdicts(ref, run)
    assert cells[(who["close"], "test")]["verdict"] == "not resolved"


def test_a_cell_borrowed_from_another_reference_study_is_compared_with_that_studys_scores(two_runs):
    ref, run, who = two_runs
    other = ref / "drift_and_prior"
    shutil.copytree(ref / STUDY, other)
    shutil.rmtree(ref / STUDY / "cells" / who["far"])   # this study's reference kept only its means
    _scores(other, who["far"], shift=0.3, noise=0.01, seed=1)   # another study scored it alike
    rows, cells = _verdicts(ref, run)
    assert cells[(who["far"], "test")]["verdict"] == "identical"
    assert set(rows.loc[rows["cell"] == who["far"], "reference_study"]) == {"drift_and_prior"}


def test_a_users_page_has_the_section_and_the_references_own_page_does_not(two_runs, tmp_path):
    ref, run, who = two_runs
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(FIXTURES / f"{STUDY}.yaml", studies)
    page = build_report(STUDY, run, tmp_path / "reports", studies, reference_dir=ref).read_text()
    assert "Reproduction: this run against the reference run" in page
    table = next(t for t in Tables(page).tables if t and t[0][0][0] == "cell" and t[0][3][0] == "verdict")
    verdicts = {row[0][0]: row[3][0] for row in table[1:] if row[2][0] == "test"}
    assert verdicts[who["far"]] == "differs" and verdicts[who["gone"]] == "no reference"
    own = build_report(STUDY, ref, tmp_path / "ref_reports", studies).read_text()
    assert "Reproduction" not in own


def test_no_reference_for_the_study_is_said(two_runs, tmp_path):
    _, run, _ = two_runs
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(FIXTURES / f"{STUDY}.yaml", studies)
    page = build_report(STUDY, run, tmp_path / "reports", studies, reference_dir=tmp_path / "nowhere").read_text()
    assert "has no results for this study" in page
