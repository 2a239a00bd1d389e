"""The scorecard (reports/index.html): each finding's verdict from made-up results of the real study
files, written with the driver's own row format (cell.cell_rows) and per-utterance files, so the
paired tests run as they do on a real run."""
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.driver.cell import cell_rows
from benchmark.driver.grid import expand, load_study
from benchmark.report import axis_effects, scorecard
from benchmark.report.index import build_index
from benchmark.report.load import load_study as load_study_file
from benchmark.report.priors import prior_match

STUDIES = Path(__file__).resolve().parents[2] / "studies"
N = 60


def fake_study(root: Path, name: str, effect, noise: float = 0.05, seed: int = 0, keep=None,
               lift: float = 0.5, converged: bool = True, splits=("test",)) -> None:
    """results/<name>/ for every cell of studies/<name>.yaml (or those `keep(axes labels, kind)`
    accepts: a run stopped part-way): PESQ-WB = a shared per-utterance level + lift + effect(axes
    labels, kind) + the cell's own noise, the input being the level (`lift` puts every system above
    its input, as the validity checks ask); training.csv says each model `converged` or not."""
    spec = load_study(name, STUDIES)
    rng = np.random.default_rng(seed)
    level = 1.5 + rng.normal(0, 0.3, N)
    out = root / "results" / name
    tables = []
    for cell in expand(spec):
        if keep is not None and not keep(cell.axes, cell.kind):
            continue
        output = level + lift + effect(cell.axes, cell.kind) + rng.normal(0, noise, N)
        scores = pd.concat([pd.DataFrame({"split": split, "name": [f"u{i}" for i in range(N)], "metric": "pesq_wb",
                                          "input": level, "output": output + (0.0 if split == "test" else -lift - 0.2),
                                          "delta": output - level, "floored": False}) for split in splits])
        scores["delta"] = scores["output"] - scores["input"]
        folder = out / "cells" / cell.hash
        folder.mkdir(parents=True)
        scores.to_csv(folder / "per_utterance.csv", index=False)
        timing = {split: {"nfe": float(cell.nfe_budget()), "rtf": 0.01 * cell.nfe_budget()} for split in splits}
        tables.append(cell_rows(name, cell, scores, timing, {"steps": 4000, "minutes": 10.0}, "cpu"))
    pd.concat(tables).to_csv(out / "cells.csv", index=False)
    hashes = sorted({c.training_hash for c in expand(spec)})
    gain = 0.005 if converged else 0.08
    pd.DataFrame({"training_hash": hashes, "metric": "pesq_wb", "steps": 4000, "from_step": 3000,
                  "from_value": 2.0, "to_value": 2.0 + gain, "gain": gain, "limit": 0.02, "converged": converged,
                  "val_utterances": 60}).to_csv(out / "training.csv", index=False)
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
    assert "study=drift_and_prior" in found[2].text      # the study that varies the start alone


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
    # the SDE's effect is cosine − OUVE (SGMSE+) = 0.4 here, under each drift (2 pairs), and its
    # bootstrap interval brackets it; the axes are compared on the same 60 utterances, paired
    numbers = verdicts(root)[3].numbers
    effect, lo, hi = map(float, re.findall(r"Δ ([0-9.]+) \[([0-9.]+), ([0-9.]+)\]", numbers[0])[0])
    assert lo <= effect <= hi and abs(effect - 0.4) < 0.05 and "2 pair(s)" in numbers[0]
    assert "OUVE (SGMSE+) → cosine" in numbers[0] and "all richter → all edm" in numbers[1]
    assert f"one bootstrap over the {N} utterances every study scored, paired" in numbers[-1]
    shutil.rmtree(root / "results" / "loss_weighting_ablation")
    fake_study(root, "loss_weighting_ablation",
               lambda axes, kind: 1.0 if axes.get("weighting") == "edm" else 0.0)
    assert verdicts(root)[3].verdict == "not supported"


def test_a_cell_without_its_own_scores_is_paired_with_another_studys_scores_of_the_same_cell(root):
    fake_study(root, "sde_ablation", drift_effect(0.0))
    cells = root / "results" / "sde_ablation" / "cells"

    def sde_effect():
        data = scorecard.load_all(root / "results", root / "studies")
        return axis_effects.axis_effect(data["sde_ablation"], "sde", "OUVE (SGMSE+)", "cosine")

    moved = [cells / c for c in sde_effect()["cells"][:3]]      # scored there by another study, not kept here
    for folder in moved:
        (root / "results" / "drift_and_prior" / "cells" / folder.name).mkdir(parents=True)
        (folder / "per_utterance.csv").rename(
            root / "results" / "drift_and_prior" / "cells" / folder.name / "per_utterance.csv")
    assert sde_effect()["basis"] == f"paired over {N} utterances"
    # a superseded folder is another configuration: never read
    (root / "results" / "drift_and_prior").rename(root / "results" / "drift_and_prior.superseded-20261205T000000Z")
    assert "unpaired" in sde_effect()["basis"]


def test_an_axis_with_more_values_or_a_broken_arm_does_not_win_by_its_spread(root):
    """Eight preconditionings with one broken arm (-1.0) span more than the SDEs' 0.4, but moving
    all richter to all edm changes nothing: the SDE's effect is the larger, as the claim says."""
    fake_study(root, "sde_ablation", drift_effect(0.0))
    fake_study(root, "preconditioning_ablation",
               lambda axes, kind: -1.0 if axes.get("preconditioning") == "edm c_noise" else 0.0)
    fake_study(root, "loss_weighting_ablation", lambda axes, kind: 0.0)
    found = verdicts(root)[3]
    assert found.verdict == "supported", (found.text, found.numbers)


def headline_effect(gap):
    return lambda axes, kind: 0.2 if kind == "predictive" else (0.0 if "SGMSE" in axes["system"] else gap)


def test_headline_and_prior_mismatch_from_the_headline_study(root):
    fake_study(root, "headline", headline_effect(0.0), noise=0.05)
    found = verdicts(root)
    assert found[4].verdict == "supported" and "4.0" in found[4].numbers[-1]
    # SGMSE+ starts at σ 1.7 (a larger mismatch than the recommended σ 90): a comparison of two
    # systems, shown as context; the verdict waits for the controlled one (drift_and_prior)
    assert found[2].verdict == "not yet run" and "study=drift_and_prior" in found[2].text
    assert found[2].studies == ["drift_and_prior"] and found[2].context == ["headline"]
    assert found[2].numbers[0].startswith("context: different systems, confounded — headline:")
    assert found[2].numbers[0].endswith("— not worse")
    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    assert re.search(r"From: drift_and_prior; context only \(different systems, confounded\): headline", html)
    shutil.rmtree(root / "results")
    fake_study(root, "headline", headline_effect(-0.3))
    found = verdicts(root)
    assert found[4].verdict == "not supported" and "below SGMSE+" in found[4].text
    shutil.rmtree(root / "results")
    fake_study(root, "headline", headline_effect(+0.3))
    found = verdicts(root)[2]
    assert found.numbers[0].endswith("— worse") and found.verdict == "not yet run"    # context decides nothing


def start_effect(gain, others=None):
    """drift_and_prior: `gain` for the matched start (a number, or per drift value), `others(axes)`
    added to every diffusion cell (a difference between systems, not starts)."""
    def effect(axes, kind):
        if kind == "predictive":
            return 0.2
        g = gain.get(axes["drift"], 0.0) if isinstance(gain, dict) else gain
        return (g if axes["sampler"] == "matched start" else 0.0) + (others(axes) if others else 0.0)
    return effect


def test_prior_mismatch_from_the_matched_start_of_drift_and_prior(root):
    # only the start's effect: the matched start (prior std / marginal std 1.00) against the plain
    # one (0.93) on the same model, per context (cosine with and without drift: OUVE (SGMSE+) has no
    # matched start); every other sampler scores like the plain start
    study = load_study_file(root / "studies" / "drift_and_prior.yaml")
    match = prior_match(study, {"sde": "cosine", "drift": "with", "sampler": "embedded"})
    assert match == pytest.approx(0.928, abs=1e-3)
    assert prior_match(study, {"sde": "cosine", "drift": "with", "sampler": "matched start"}) == 1.0
    fake_study(root, "drift_and_prior", start_effect(0.0))
    found = verdicts(root)[2]
    assert found.verdict == "supported" and found.studies == ["drift_and_prior"], found.text
    assert "0.928 against 1.000" in found.text and "in none of the 2 model/SDE context(s)" in found.text
    controlled = [n for n in found.numbers if not n.startswith("context:")]
    assert [n.split(" (model")[0] for n in controlled] == ["sde=cosine · drift=with", "sde=cosine · drift=without"]
    assert all("(matched − plain start)" in n and "Holm p = " in n for n in controlled)
    assert any(n.startswith("context: different systems, confounded — drift_and_prior") for n in found.numbers)
    # only the controlled cells are gated: the plain and matched start of each context
    assert len(found.systems) == 4 and {s for s, _ in found.systems} == {"drift_and_prior"}
    shutil.rmtree(root / "results")
    fake_study(root, "drift_and_prior", start_effect(0.3))
    found = verdicts(root)[2]
    assert found.verdict == "not supported" and "in every model/SDE context (2)" in found.text


def test_the_prior_verdict_reads_the_controlled_comparison_not_the_confounded_one(root):
    # σ-space cells (another sampler, started as far from the marginal as the plain start) score 0.5
    # higher: the confounded comparison finds a larger mismatch "not worse", but on the same model the
    # matched start beats the plain one everywhere: not supported
    fake_study(root, "drift_and_prior", start_effect(0.3, lambda axes: 0.5 if axes["sampler"] == "σ-space" else 0.0))
    found = verdicts(root)[2]
    assert found.verdict == "not supported", found.text
    assert any(n.startswith("context: different systems, confounded — drift_and_prior") and n.endswith("— not worse")
               for n in found.numbers)
    # the matched start better in one context only (with drift), worse in none: the mismatch is not
    # necessarily what limits the cells, so the claim stands
    shutil.rmtree(root / "results")
    fake_study(root, "drift_and_prior", start_effect({"with": 0.3}))
    found = verdicts(root)[2]
    assert found.verdict == "supported" and "in 1 of 2 model/SDE contexts" in found.text
    shutil.rmtree(root / "results")
    # the matched start worse everywhere: the mismatch costs nothing, the claim stands
    fake_study(root, "drift_and_prior", start_effect(-0.3))
    found = verdicts(root)[2]
    assert found.verdict == "supported" and "(2 lower)" in found.text


def test_index_page_lists_studies_links_pages_and_names_what_is_missing(root):
    fake_study(root, "sde_ablation", drift_effect(0.05))
    (root / "reports").mkdir()
    (root / "reports" / "sde_ablation.html").write_text("<html></html>")
    html = build_index(root / "results", root / "reports", root / "studies").read_text()
    assert '<a href="sde_ablation.html">sde_ablation</a>' in html
    assert html.count('class="badge"') == 5 and "not yet run" in html
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


def test_a_verdict_whose_baseline_is_below_its_input_is_not_valid(root):
    # SGMSE+ 0.3 below its noisy input, the recommended setting 0.3 above it: "supported" before
    fake_study(root, "headline", headline_effect(+0.6), lift=-0.3)
    f = verdicts(root)[4]
    assert f.verdict == "not valid at this scale" and f.tone == "invalid"
    assert "1 of 2 system(s) fail 'above input'" in f.text and 'would have read "supported"' in f.text
    failed = [n for n in f.numbers if n.startswith("✗")]
    assert len(failed) == 1 and "SGMSE+ (NFE 60)" in failed[0] and "Δ over the input -0.29" in failed[0]


def test_a_verdict_from_models_that_did_not_converge_or_kept_no_curve_is_not_valid(root):
    fake_study(root, "headline", headline_effect(+0.3), converged=False)
    f = verdicts(root)[4]
    assert f.verdict == "not valid at this scale" and "2 of 2 model(s) fail 'converged'" in f.text
    assert any("gain +0.080 (criterion < 0.02; 60 validation utterances)" in n for n in f.numbers)
    (root / "results" / "headline" / "training.csv").unlink()            # a run from before curves were kept
    f = verdicts(root)[4]
    assert f.verdict == "not valid at this scale" and any("has no learning curve" in n for n in f.numbers)


def test_a_headline_whose_sgmse_is_not_the_papers_is_not_valid(root):
    path = root / "studies" / "headline.yaml"
    path.write_text(path.read_text().replace("sampler=pc, sampler.steps=30]", "sampler=pc, sampler.steps=20]"))
    fake_study(root, "headline", headline_effect(+0.3))
    f = verdicts(root)[4]
    assert f.verdict == "not valid at this scale" and "1 of 1 system(s) fail 'baseline'" in f.text
    assert any("not SGMSE+ as published: {'steps': 20}" in n for n in f.numbers)


def test_a_verdict_from_working_converged_systems_stands_and_the_index_says_which_are_gated(root):
    fake_study(root, "headline", headline_effect(+0.3))
    assert verdicts(root)[4].verdict == "supported"
    fake_study(root, "sde_ablation", drift_effect(+0.05), converged=False)
    build_index(root / "results", root / "reports", root / "studies")
    html = (root / "reports" / "index.html").read_text()
    assert re.search(r'class="banner">1 of 5 verdicts are not valid at this scale:\s*finding 1\.', html)
    # the Studies table shows each best cell's paired Δ over its input, coloured by the check
    assert re.search(r'<td class="num good">\+0\.[0-9]{3} ± 0\.[0-9]{3}, Wilcoxon p = ', html)


def sampler_effect(churn_gain, order_gain=0.0):
    gains = {"PC": 0.0, "Heun": order_gain, "Heun churn ∞": order_gain + churn_gain}
    return lambda axes, kind: 0.2 if kind == "predictive" else gains[axes["sampler"]]


def test_the_sampler_finding_credits_churn_not_the_second_order_step(root):
    fake_study(root, "sampler_ablation", sampler_effect(+0.3))
    f = verdicts(root)[5]
    assert f.verdict == "supported" and f.studies == ["sampler_ablation"]
    assert "Churn raises PESQ-WB significantly at every N (4)" in f.text and "beats PC at 0 of 4" in f.text
    assert len(f.numbers) == 4 and all("churn ∞ − none +0.3" in n for n in f.numbers)


def test_the_sampler_finding_is_not_supported_when_churn_adds_nothing(root):
    fake_study(root, "sampler_ablation", sampler_effect(0.0, order_gain=0.3))
    f = verdicts(root)[5]
    assert f.verdict == "not supported" and "at none of the 4 step counts" in f.text
    shutil.rmtree(root / "results")
    assert verdicts(root)[5].verdict == "not yet run"


def test_each_verdict_is_also_read_on_the_other_splits(root):
    # on `real` every system falls 0.2 below its input: the same comparison is gated there, not on test
    fake_study(root, "headline", headline_effect(+0.3), splits=("test", "real"))
    assert verdicts(root)[4].verdict == "supported"
    other = scorecard.findings_by_split(root / "results", root / "studies")
    assert list(other) == ["real"] and other["real"][3].verdict == "not valid at this scale"
    build_index(root / "results", root / "reports", root / "studies")
    html = (root / "reports" / "index.html").read_text()
    assert re.search(r'The same finding on the other splits:\s*<span class="invalid"><span class="hash">real</span>'
                     r'\s*<span class="badge">not valid at this scale</span>', html)
