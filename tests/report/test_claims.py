import pandas as pd

from benchmark.report import paired_stats
from benchmark.report.claims import (
    axis_claim,
    claim_check,
    drift_claim,
    few_step_claim,
    headline_claim,
    spread_claim,
    versus_input,
    versus_predictive,
)
from benchmark.report.evidence import Evidence
from benchmark.report.load import Study

M = "pesq_wb"


def summary(*cells, axes=("sde",)) -> pd.DataFrame:
    """Cells as (kind, axis values, mean, ci, delta, delta_ci, nfe) in the cell_summary layout."""
    rows = []
    for i, (kind, values, mean, ci, delta, delta_ci, nfe) in enumerate(cells):
        label = " · ".join(values) or kind
        rows.append({"cell": f"{i:08x}", "kind": kind, "label": label,
                     **dict(zip(axes, values or [""] * len(axes))), "nfe": float(nfe),
                     M: mean, f"{M}_ci": ci, f"{M}_delta": delta, f"{M}_delta_ci": delta_ci})
    return pd.DataFrame(rows)


def study(**axes) -> Study:
    return Study(name="s", title="t", claim="c", axes=axes)


def test_the_rule_reads_holms_p_and_falls_back_to_the_ci_only_without_one():
    nan = float("nan")
    assert paired_stats.verdict(0.02, 0.01, 1.0) == 0            # the reviewer's case: CI clear of 0, p not
    assert paired_stats.verdict(-0.02, 0.05, 0.01) == -1         # p decides, the CI does not
    assert paired_stats.verdict(0.02, 0.01, nan) == 1            # no p: the CI decides
    assert paired_stats.verdict(0.02, 0.03, nan) == 0
    assert paired_stats.verdict(nan, 0.01, 0.01) == 0 and paired_stats.verdict(0.1, nan, nan) == 0
    assert paired_stats.by_ci(nan) and not paired_stats.by_ci(0.2)


def test_axis_claim_separated_only_when_the_difference_counts():
    order = ["ouve", "ouvp", "oucosine"]
    tight = summary(("diffusion", ["ouve"], 1.4, 0.01, 0, 0, 16),
                    ("diffusion", ["ouvp"], 1.5, 0.01, 0, 0, 16),
                    ("diffusion", ["oucosine"], 1.7, 0.01, 0, 0, 16))
    claim = axis_claim(tight, "sde", order, M)
    assert claim.verdict == "separated"
    assert "Best sde: oucosine" in claim.text and "1.40–1.70" in claim.text
    assert "runner-up ouvp" in claim.text
    loose = tight.assign(**{f"{M}_ci": 0.3})
    assert axis_claim(loose, "sde", order, M).verdict == "not resolved"
    one = axis_claim(tight[tight["sde"] == "ouve"], "sde", order, M)
    assert one.verdict == "one value" and "Only sde = ouve" in one.text
    # A paired test the report holds decides, not the CIs: Holm p ≥ 0.05 with an interval clear of 0
    pairs = pd.DataFrame({"axis": "sde", "value": "oucosine", "reference": "ouvp", "context": "", "metric": M,
                          "mean": [0.2], "ci95": [0.01], "cell": tight["cell"][2], "reference_cell": tight["cell"][1],
                          "p_holm": [0.3]})
    held = axis_claim(tight, "sde", order, M, evidence=Evidence("test", pairs=pairs))
    assert held.verdict == "not resolved" and "p = 0.30" in held.text and "Holm-adjusted" in held.text
    settled = axis_claim(loose, "sde", order, M, evidence=Evidence("test", pairs=pairs.assign(p_holm=0.001)))
    assert settled.verdict == "separated"


def test_axis_claim_uses_best_cells_when_values_do_not_share_the_other_axes():
    # cosine has a weak `with` cell; a bridge has only its built-in drift: means would crown it
    cells = summary(("diffusion", ["cosine", "with"], 1.40, 0.05, 0, 0, 5),
                    ("diffusion", ["cosine", "without"], 1.80, 0.05, 0, 0, 5),
                    ("diffusion", ["bbed", "built in"], 1.70, 0.05, 0, 0, 5), axes=("sde", "drift"))
    claim = axis_claim(cells, "sde", ["cosine", "bbed"], M, ["sde", "drift"])
    assert "Best sde: cosine" in claim.text and "its best cell, cosine · without" in claim.text
    assert "1.70–1.80" in claim.text and claim.verdict == "separated"
    balanced = cells[cells["sde"] == "cosine"].assign(sde=["cosine", "ouve"], drift=["without"] * 2)
    assert "mean over 1 cell(s)" in axis_claim(balanced, "sde", ["cosine", "ouve"], M, ["sde", "drift"]).text


def test_drift_claim_follows_the_data():
    cells = summary(("diffusion", ["with (γ=1.5)"], 1.50, 0.05, 0, 0, 16),
                    ("diffusion", ["without (γ=0)"], 1.49, 0.05, 0, 0, 16), axes=("drift",))
    same = drift_claim(cells, "drift", M)
    assert same.verdict == "consistent with the paper" and "-0.01 ± 0.07" in same.text
    assert "unpaired" in same.text and same.text.startswith("Without − with the drift")   # treatment − control
    cells.loc[0, M] = 1.90
    helps = drift_claim(cells, "drift", M)
    assert helps.verdict == "contradicts the paper" and "-0.41" in helps.text
    cells.loc[0, M] = 1.10
    hurts = drift_claim(cells, "drift", M)
    assert hurts.verdict == "consistent with the paper"
    assert "without the drift is better beyond the CI in 1 of 1" in hurts.text
    three = summary(("diffusion", ["a"], 1.5, 0.05, 0, 0, 16),
                    ("diffusion", ["b"], 1.5, 0.05, 0, 0, 16), axes=("drift",))
    assert drift_claim(three, "drift", M) is None     # neither reads as 'without'


def test_drift_is_compared_within_each_sde_and_a_bridge_is_left_out():
    axes = ("sde", "drift")
    cells = summary(("diffusion", ["ouve", "with"], 1.60, 0.05, 0, 0, 5),
                    ("diffusion", ["ouve", "without"], 1.40, 0.05, 0, 0, 5),
                    ("diffusion", ["ouvp", "with"], 1.50, 0.05, 0, 0, 5),
                    ("diffusion", ["ouvp", "without"], 1.52, 0.05, 0, 0, 5),
                    ("diffusion", ["bbed", "built in"], 1.90, 0.05, 0, 0, 5), axes=axes)
    claim = drift_claim(cells, "drift", M, axes=list(axes))
    assert claim.verdict == "mixed" and "helps beyond the CI in 1 of 2" in claim.text
    assert "sde=ouve -0.20" in claim.text and "sde=ouvp +0.02" in claim.text and "bbed" not in claim.text
    s = study(sde=["ouve", "ouvp"], drift=["with", "without"])
    verdicts = {c.topic: c.verdict for c in claim_check(cells, s, (1.3, 0.05), M)}
    assert verdicts["progressive transformation"] == "mixed"
    assert "drift" not in verdicts                         # no "best drift: built in"
    # Paired differences (value − reference, reference `with`) replace the unpaired estimate.
    pairs = pd.DataFrame({"axis": "drift", "value": "without", "reference": "with",
                          "context": ["sde=ouve", "sde=ouvp"], "metric": M,
                          "mean": [-0.20, 0.02], "ci95": [0.01, 0.01]})
    paired = drift_claim(cells, "drift", M, pairs, list(axes))
    assert "paired over the same utterances" in paired.text and "sde=ouvp +0.02 ± 0.01" in paired.text
    assert "without the drift is better beyond the CI in 1 of 2" in paired.text


def test_spread_claim_checks_sde_against_preconditioning():
    axes = ("sde", "preconditioning")
    cells = summary(("diffusion", ["ouve", "edm"], 1.40, 0.02, 0, 0, 16),
                    ("diffusion", ["ouve", "richter"], 1.42, 0.02, 0, 0, 16),
                    ("diffusion", ["ouvp", "edm"], 1.70, 0.02, 0, 0, 16),
                    ("diffusion", ["ouvp", "richter"], 1.72, 0.02, 0, 0, 16), axes=axes)
    s = study(sde=["ouve", "ouvp"], preconditioning=["edm", "richter"])
    claim = spread_claim(cells, s, M)
    assert claim.verdict == "consistent with the paper"
    assert claim.text.index("sde 0.30") < claim.text.index("preconditioning 0.02")
    flipped = cells.assign(preconditioning=cells["sde"].map({"ouve": "edm", "ouvp": "richter"}),
                           sde=cells["preconditioning"].map({"edm": "ouve", "richter": "ouvp"}))
    assert spread_claim(flipped, s, M).verdict == "differs from the paper"
    assert spread_claim(cells, study(sde=["ouve", "ouvp"]), M) is None
    # A value outside the study's order (an `extra` cell's label) does not count toward a spread.
    bridge = pd.concat([cells, summary(("diffusion", ["ouve", "built in"], 3.0, 0.02, 0, 0, 16),
                                       axes=axes).assign(cell="bridge")])
    assert spread_claim(bridge, s, M).verdict == "consistent with the paper"


def test_best_cell_against_input_and_predictive():
    cells = summary(("diffusion", ["ouve"], 1.30, 0.05, -0.05, 0.02, 16),
                    ("diffusion", ["ouvp"], 1.25, 0.05, -0.10, 0.02, 16),
                    ("predictive", [], 1.60, 0.05, 0.25, 0.02, 1))
    below = versus_input(cells, (1.35, 0.04), M)
    assert below.verdict == "below input" and "ouve" in below.text and "-0.05" in below.text
    cells.loc[0, [M, f"{M}_delta"]] = [1.45, 0.10]
    assert versus_input(cells, (1.35, 0.04), M).verdict == "above input"
    assert versus_predictive(cells, M).verdict == "predictive ahead"
    cells.loc[2, M] = 1.44
    assert versus_predictive(cells, M).verdict == "tie"
    assert versus_predictive(cells[cells["kind"] == "diffusion"], M) is None


def test_headline_compares_fewer_nfe_with_sgmse():
    cells = summary(("diffusion", ["SGMSE+ (pc N=30)"], 1.50, 0.03, 0, 0, 60),
                    ("diffusion", ["heun N=8"], 1.62, 0.03, 0, 0, 16),
                    ("diffusion", ["heun N=64"], 1.90, 0.03, 0, 0, 128), axes=("setting",))
    s = study(setting=["SGMSE+ (pc N=30)", "heun N=8", "heun N=64"])
    claim = headline_claim(cells, s, M)
    assert claim.verdict == "consistent with the paper"
    assert "heun N=8, NFE 16" in claim.text and "3.8× fewer" in claim.text   # not the N=64 cell
    cells.loc[1, M] = 1.30
    assert headline_claim(cells, s, M).verdict == "contradicts the paper"
    cells.loc[1, M] = 1.52
    assert headline_claim(cells, s, M).verdict == "matches"
    assert headline_claim(cells[cells.index != 0], s, M) is None
    same_nfe = cells.assign(nfe=16.0)                      # an ablation at one NFE has no headline
    assert headline_claim(same_nfe, s, M) is None


def test_few_step_claim_compares_a_third_of_the_nfe_with_the_reference():
    cells = summary(("diffusion", ["recommended, NFE 15"], 1.60, 0.03, 0, 0, 15),
                    ("diffusion", ["recommended, NFE 5"], 1.70, 0.03, 0, 0, 5),     # not a candidate
                    ("diffusion", ["flow, NFE 5"], 1.58, 0.03, 0, 0, 5),
                    ("diffusion", ["SB-ODE, NFE 1"], 1.40, 0.03, 0, 0, 1),
                    ("diffusion", ["SB-ODE, NFE 8"], 2.00, 0.03, 0, 0, 8),         # over a third
                    axes=("system",))
    s = study(system=list(cells["label"]))
    assert few_step_claim(cells, s, M) is None                  # the study asks nothing
    s = Study(name="s", title="t", claim="c", axes=s.axes, raw={"few_step": {
        "reference": "recommended, NFE 15", "candidates": "SB|flow", "nfe_fraction": 0.34}})
    claim = few_step_claim(cells, s, M)
    assert claim.verdict == "matches" and "flow, NFE 5" in claim.text and "NFE 15." not in claim.text
    assert "NFE 5, NFE 5" not in claim.text                     # a label that says its NFE keeps it once
    cells.loc[2, M] = 1.40
    assert few_step_claim(cells, s, M).verdict == "falls short"
    cells.loc[3, M] = 1.80
    assert few_step_claim(cells, s, M).verdict == "beats"
    assert "SB-ODE, NFE 1" in few_step_claim(cells, s, M).text
    assert few_step_claim(cells[cells.index != 0], s, M).verdict == "no data"
    assert any(c.topic.startswith("few-step") for c in claim_check(cells, s, (1.2, 0.03), M))


def test_claim_check_survives_a_single_cell_and_nan():
    cells = summary(("diffusion", ["ouve"], float("nan"), float("nan"), float("nan"),
                     float("nan"), 16))
    claims = claim_check(cells, study(sde=["ouve", "ouvp"]), (float("nan"), float("nan")), M)
    assert {c.verdict for c in claims} == {"no data"}
