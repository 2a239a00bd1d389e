"""report/contrast.py: the two arms of a study's primary comparison, found by their axis labels,
and what the players and the input-SNR plot show without a contrast."""
import pandas as pd

from benchmark.report import contrast

SUMMARY = pd.DataFrame({     # sorted best first, as tables.cell_summary returns it
    "cell": ["in", "a", "b", "c", "p"],
    "kind": ["input", "diffusion", "diffusion", "diffusion", "predictive"],
    "sde": ["", "cosine", "ouve", "ouve", ""],
    "drift": ["", "without", "without", "with", ""],
    "display": ["noisy input", "cosine · without", "ouve · without", "ouve · with", "predictive"],
})
OUVE = {"control": {"sde": "ouve", "drift": "with"}, "treatment": {"sde": "ouve", "drift": "without"}}


def test_the_arms_are_the_cells_their_labels_name_control_first():
    assert contrast.arms(SUMMARY, OUVE) == [("c", "ouve · with (control)"), ("b", "ouve · without (treatment)")]
    assert contrast.systems(SUMMARY, OUVE) == [("c", "ouve · with (control)"), ("b", "ouve · without (treatment)"),
                                               ("p", "predictive")]
    assert contrast.missing(SUMMARY, OUVE) == []


def test_an_arm_this_split_has_not_finished_is_named_in_the_caption():
    summary = SUMMARY[SUMMARY["cell"] != "c"]
    assert contrast.systems(summary, OUVE) == [("b", "ouve · without (treatment)"), ("p", "predictive")]
    assert contrast.missing(summary, OUVE) == ["control: ouve, with"]
    assert "not finished on this split: control: ouve, with" in contrast.describe(summary, OUVE, "")


def test_without_a_contrast_the_best_cells_are_shown():
    assert contrast.systems(SUMMARY, None) == [("a", "cosine · without"), ("p", "predictive")]
    assert contrast.systems(SUMMARY, None, fallback=2) == [("a", "cosine · without"), ("b", "ouve · without"),
                                                           ("p", "predictive")]
    assert contrast.describe(SUMMARY, None, "the best cell") == "the best cell and the predictive baseline"
