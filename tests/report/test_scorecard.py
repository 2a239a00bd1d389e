"""The scorecard (reports/index.html): each finding's verdict from made-up results of the real study
files, written with the driver's own row format (cell.cell_rows) and per-utterance files, so the
paired tests run as they do on a real run."""
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.cell import cell_rows
from benchmark.report import scorecard
from benchmark.report.index import build_index
from benchmark.study import expand, load_study

STUDIES = Path(__file__).resolve().parents[2] / "studies"
N = 60


def fake_study(root: Path, name: str, effect, noise: float = 0.05, seed: int = 0, keep=None) -> None:
    """results/<name>/ for every cell of studies/<name>.yaml (or those `keep(axes labels, kind)`
    accepts: a run stopped part-way): PESQ-WB = a shared per-utterance level + effect(axes
    labels, kind) + the cell's own noise."""
    spec = load_study(name, STUDIES)
    rng = np.random.default_rng(seed)
    level = 1.5 + rng.normal(0, 0.3, N)
    out = root / "results" / name
    tables = []
    for cell in expand(spec):
        if keep is not None and not keep(cell.axes, cell.kind):
            continue
        output = level + effect(cell.axes, cell.kind) + rng.normal(0, noise, N)
        scores = pd.DataFrame({"split": "test", "name": [f"u{i}" for i in range(N)], "metric": "pesq_wb",
                               "input": level, "output": output, "delta": output - level, "floored": False})
        folder = out / "cells" / cell.hash
        folder.mkdir(parents=True)
        scores.to_csv(folder / "per_utterance.csv", index=False)
        timing = {"test": {"nfe": float(cell.nfe_budget()), "rtf": 0.01 * cell.nfe_budget()}}
        tables.append(cell_rows(name, cell, scores, timing, {"steps": 4000, "minutes": 10.0}, "cpu"))
    pd.concat(tables).to_csv(out / "cells.csv", index=False)
    (out / "meta.json").write_text('{"git_commit": "abc", "device": "cpu", "wall_minutes": 12.5}')


@pytest.fixture
def root(tmp_path):
    shutil.copytree(STUDIES, tmp_path / "studies")
    return tmp_path


def verdicts(root) -> dict[int, scorecard.Finding]:
    data = scorecard.load_all(root / "results", root / "studies")
    return {f.number: f for f in scorecard.findings(data, scorecard.known_studies(root / "studies"))}


def drift_effect(without_gain):
    return lambda axes, kind: (0.2 if kind == "predictive" else
                               {"OUVE (SGMSE+)": 0.0, "OUVE": 0.1, "OUVP": 0.2, "cosine": 0.4}.get(axes["sde"], 0.3)
                               + (without_gain if axes["drift"] == "without" else 0.0))


def test_nothing_run_means_every_finding_says_which_study_would_test_it(root):
    found = verdicts(root)
    assert {f.verdict for f in found.values()} == {"not yet run"}
    assert "study=sde_ablation" in found[1].text and "study=headline" in found[4].text
    assert "study=preconditioning_ablation" in found[3].text
    assert "study=headline" in found[2].text             # the study whose cells start at different σ


def test_drift_supported_when_removing_it_does_not_hurt_and_not_when_it_does(root, tmp_path):
    fake_study(root, "sde_ablation", drift_effect(+0.05))
    assert verdicts(root)[1].verdict == "supported"
    shutil.rmtree(root / "results")
    fake_study(root, "sde_ablation", drift_effect(-0.3))
    found = verdicts(root)
    assert found[1].verdict == "not supported" and found[1].tone == "bad"
    assert len(found[1].numbers) == 4                     # one paired Δ per SDE with a drift axis
    assert all("p = " in n for n in found[1].numbers)


def test_spread_of_sdes_against_preconditioning_and_weighting(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    fake_study(root, "preconditioning_ablation", lambda axes, kind: 0.01 * len(axes.get("preconditioning", "")) % 0.05)
    found = verdicts(root)[3]
    assert found.verdict == "partly tested" and "loss_weighting_ablation" in found.text
    fake_study(root, "loss_weighting_ablation", lambda axes, kind: 0.0)
    assert verdicts(root)[3].verdict == "supported"
    # the bootstrap interval brackets the spread of the means: cosine − OUVE (SGMSE+) = 0.4 here
    number = verdicts(root)[3].numbers[0]
    spread, lo, hi = map(float, re.findall(r"spread ([0-9.]+) \[([0-9.]+), ([0-9.]+)\]", number)[0])
    assert lo <= spread <= hi and abs(spread - 0.4) < 0.05 and "paired" in number
    shutil.rmtree(root / "results" / "loss_weighting_ablation")
    fake_study(root, "loss_weighting_ablation",
               lambda axes, kind: 1.0 if axes.get("weighting") == "edm" else 0.0)
    assert verdicts(root)[3].verdict == "not supported"


def test_a_cell_without_its_own_scores_is_paired_with_another_studys_scores_of_the_same_cell(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    cells = root / "results" / "sde_ablation" / "cells"
    moved = sorted(cells.iterdir())[:3]           # scored there by another study, not kept here
    for folder in moved:
        (root / "results" / "drift_and_prior" / "cells" / folder.name).mkdir(parents=True)
        (folder / "per_utterance.csv").rename(root / "results" / "drift_and_prior" / "cells" / folder.name / "per_utterance.csv")
    data = scorecard.load_all(root / "results", root / "studies")
    assert "paired" in scorecard.axis_spread(data["sde_ablation"], "sde", np.random.default_rng(0))["basis"]
    # a superseded folder is another configuration: never read
    (root / "results" / "drift_and_prior").rename(root / "results" / "drift_and_prior.superseded-20261205T000000Z")
    data = scorecard.load_all(root / "results", root / "studies")
    assert data["sde_ablation"].outputs(moved[0].name) is None
    assert "unpaired" in scorecard.axis_spread(data["sde_ablation"], "sde", np.random.default_rng(0))["basis"]


def headline_effect(gap):
    return lambda axes, kind: 0.2 if kind == "predictive" else (0.0 if "SGMSE" in axes["system"] else gap)


def test_headline_and_prior_mismatch_from_the_headline_study(root):
    fake_study(root, "headline", headline_effect(0.0), noise=0.05)
    found = verdicts(root)
    assert found[4].verdict == "supported" and "4.0" in found[4].numbers[-1]
    # SGMSE+ starts at σ 1.7 (a larger mismatch than the recommended σ 90) and is not worse
    assert found[2].verdict == "supported" and found[2].studies == ["headline"]
    shutil.rmtree(root / "results")
    fake_study(root, "headline", headline_effect(-0.3))
    found = verdicts(root)
    assert found[4].verdict == "not supported" and "below SGMSE+" in found[4].text
    shutil.rmtree(root / "results")
    fake_study(root, "headline", headline_effect(+0.3))
    assert verdicts(root)[2].verdict == "not supported"    # the larger mismatch is worse here


def test_prior_mismatch_from_the_matched_start_of_drift_and_prior(root):
    # only the start's effect: the matched start (prior std / marginal std 1.00) against the plain
    # one (0.93) and σ₀ 0.5 (0.98); every other sampler scores like the plain start
    def start_effect(gain):
        return lambda axes, kind: 0.2 if kind == "predictive" else (gain if axes["sampler"] == "matched start" else 0.0)
    study = scorecard.load_study(root / "studies" / "drift_and_prior.yaml")
    assert scorecard.prior_match(study, {"sde": "cosine", "drift": "with", "sampler": "embedded"}) == pytest.approx(0.928, abs=1e-3)
    assert scorecard.prior_match(study, {"sde": "cosine", "drift": "with", "sampler": "matched start"}) == 1.0
    fake_study(root, "drift_and_prior", start_effect(0.0))
    found = verdicts(root)[2]
    assert found.verdict == "supported" and found.studies == ["drift_and_prior"]
    assert "from 0.928 to 1.000" in found.numbers[0] and "matched start" in found.numbers[0]
    shutil.rmtree(root / "results")
    fake_study(root, "drift_and_prior", start_effect(0.3))
    assert verdicts(root)[2].verdict == "not supported"      # every mismatched cell is worse


def test_index_page_lists_studies_links_pages_and_names_what_is_missing(root):
    fake_study(root, "sde_ablation", drift_effect(0.05))
    (root / "reports").mkdir()
    (root / "reports" / "sde_ablation.html").write_text("<html></html>")
    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    assert '<a href="sde_ablation.html">sde_ablation</a>' in html
    assert html.count('class="badge"') == 4 and "not yet run" in html
    assert "12 min" in html or "13 min" in html
    for name in ("headline", "sampler_ablation", "preconditioning_ablation", "loss_weighting_ablation"):
        assert name in html[html.index("Not yet run"):]


def test_a_study_run_part_way_gives_provisional_verdicts_and_says_how_far_it_got(root):
    fake_study(root, "sde_ablation", drift_effect(+0.05))
    complete = verdicts(root)[1]
    assert complete.verdict == "supported" and "rovisional" not in complete.text
    shutil.rmtree(root / "results")
    fake_study(root, "sde_ablation", drift_effect(+0.05),
               keep=lambda axes, kind: kind == "predictive" or axes["sde"] in ("OUVE", "OUVP"))
    found = verdicts(root)
    assert found[1].verdict == "supported, provisional" and found[1].tone == "good"
    assert "sde_ablation has 4 of 9 grid points" in found[1].text
    assert len(found[1].numbers) == 2                     # the two SDEs with both drift cells
    assert found[4].verdict == "not yet run"              # a finding from other studies is untouched
    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    assert "partial: 4 of 9 grid points" in html and "supported, provisional" in html
