"""A study page's claims pass the scorecard's validity checks (report/validity.py, gate_claim): a
comparison of systems that do not beat their noisy input, or whose models have not shown that they
converged, reads "not valid at this scale" and names the failed check with its numbers."""
import re

import pandas as pd

from benchmark.driver import training_record
from benchmark.report import build_report

from .conftest import STUDY

CLAIM = re.compile(r'<li class="(\w+)"><span class="badge">([^<]+)</span><span class="topic">([^<]+):</span>([^<]*)')


def _claims(dirs) -> dict[str, tuple[str, str, str]]:
    html = build_report(*dirs.args()).read_text().replace("&#39;", "'")
    section = html[html.index('id="split-test"'):html.index('id="split-test_mismatched"')]
    return {topic: (tone, verdict, text) for tone, verdict, topic, text in CLAIM.findall(section)}


def _converged(dirs, models=("c58eba8a", "c68bbc69", "3d7cb578", "827bc782")):
    rows = [dict(training_hash=m, metric="pesq_wb", steps=4000, from_step=3000, from_value=1.60,
                 to_value=1.61, gain=0.01, limit=0.02, converged=True, val_utterances=100) for m in models]
    pd.DataFrame(rows, columns=list(training_record.COLUMNS)).to_csv(dirs.results / STUDY / "training.csv",
                                                                       index=False)


def _delta(dirs, cell: str, mean: float):
    table = dirs.table()
    at = (table["cell"] == cell) & (table["which"] == "delta") & (table["metric"] == "pesq_wb")
    table.loc[at, "mean"] = str(mean)
    dirs.save(table)


def test_without_a_learning_curve_a_comparison_is_not_a_finding(dirs):
    tone, verdict, text = _claims(dirs)["sde"]
    assert (tone, verdict) == ("invalid", "not valid at this scale")
    assert "3 of 3 model(s) fail 'converged'" in text and "1 of 9 system(s) fail 'above input'" in text
    assert "The comparison would have read" in text
    # the card that describes the regime is not a comparison between systems: not gated
    assert _claims(dirs)["best diffusion vs noisy input"][0] != "invalid"


def test_working_converged_systems_keep_their_verdict(dirs):
    _converged(dirs)
    _delta(dirs, "0e32de91", 0.05)         # the one cell whose Δ over the input was within its CI
    tone, verdict, _ = _claims(dirs)["sde"]
    assert tone != "invalid" and verdict != "not valid at this scale"


def test_one_system_below_its_input_invalidates_the_comparison_and_is_named(dirs):
    _converged(dirs)
    _delta(dirs, "0e32de91", 0.05)
    _delta(dirs, "089b4d07", -0.2)
    tone, verdict, text = _claims(dirs)["sde"]
    assert verdict == "not valid at this scale"
    assert "1 of 9 system(s) fail 'above input'" in text and "089b4d07" in text and "-0.200" in text
    assert "converged" not in text.split("(")[0]
