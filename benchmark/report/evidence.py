"""The paired test behind a claim sentence: cell a − cell b (or a set of cells against another, matched
context by context) on one split and metric, read by paired_stats.verdict like every other
difference the reports show.

Where the report already tests the comparison it is taken from there, with the Holm adjustment of its
family: pairs.csv (a value against its axis's reference in one context) or vs_best.csv (a system
against the split's best). Else, where both cells' per-utterance scores are here, it is computed as
a comparison of its own (a claim's one planned question, so its raw Wilcoxon p is its Holm p). Else
the two cells' means are set against their CIs combined, √(ci₁² + ci₂²) (unpaired), and the CI
decides: the one place the rule falls back.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.driver import ledger
from benchmark.report import paired_stats
from benchmark.report.load import scores
from benchmark.report.tables import fmt

SOURCES = {
    "pairs": "paired, Wilcoxon p Holm-adjusted over the split's comparisons",
    "vs_best": "paired, Wilcoxon p Holm-adjusted over the comparisons with the split's best",
    "paired": "paired, Wilcoxon p of this one comparison",
    "paired CI": f"paired, no p kept: {paired_stats.CI_MARK}",
    "unpaired": f"unpaired/{paired_stats.CI_MARK}: no per-utterance scores",
}


@dataclass(frozen=True)
class Evidence:
    """What a page holds to test a claim on one split: this split's rows of pairs.csv and of
    vs_best.csv, and the folder of the cells' per-utterance files."""
    split: str
    pairs: pd.DataFrame | None = None
    vs_best: pd.DataFrame | None = None
    cells_dir: Path | None = None


@dataclass(frozen=True)
class Difference:
    mean: float
    ci95: float
    p: float              # Holm-adjusted within its family; NaN where none was kept
    source: str           # a key of SOURCES

    @property
    def sign(self) -> int:
        return paired_stats.verdict(self.mean, self.ci95, self.p)

    @property
    def judged(self) -> bool:
        """Whether anything decides: a mean, and a p or at least a CI."""
        return paired_stats.finite(self.mean) and (paired_stats.finite(self.p) or paired_stats.finite(self.ci95))


def shown(d: Difference, metric: str) -> str:
    """'Δ +0.05 ± 0.02, p = 0.003; paired, …': the numbers and where the p comes from."""
    ci = f" ± {fmt(d.ci95, metric)}" if paired_stats.finite(d.ci95) else ""
    p = f", {paired_stats.p_text(d.p)}" if paired_stats.finite(d.p) else ""
    return f"Δ {fmt(d.mean, metric, True)}{ci}{p}; {SOURCES[d.source]}"


def _kept(frame: pd.DataFrame | None, left: str, right: str, a: str, b: str, metric: str,
          source: str) -> Difference | None:
    """a − b from a kept table of `left` − `right` rows, either way round."""
    if frame is None or frame.empty:
        return None
    at = frame[frame["metric"] == metric]
    for x, y, sign in ((a, b, 1.0), (b, a, -1.0)):
        row = at[(at[left] == x) & (at[right] == y)]
        if len(row):
            r = row.iloc[-1]
            p = float(r["p_holm"]) if "p_holm" in r and pd.notna(r["p_holm"]) else math.nan
            return Difference(sign * float(r["mean"]), float(r["ci95"]), p,
                              source if math.isfinite(p) else "paired CI")
    return None


def _scores(evidence: Evidence | None, cell: str, metric: str, column: str = "output") -> pd.Series | None:
    if evidence is None or evidence.cells_dir is None:
        return None
    path = ledger.per_utterance_under(evidence.cells_dir, cell)
    if not path.is_file():
        return None
    frame = scores(path)
    part = frame[(frame["split"] == evidence.split) & (frame["metric"] == metric)]
    return part.set_index("name")[column] if column in part and len(part) else None


def _tested(diff: np.ndarray) -> Difference:
    mean, ci, _, _ = mean_ci95(diff)
    return Difference(mean, ci, paired_stats.wilcoxon_p(diff), "paired")


def between(evidence: Evidence | None, a: pd.Series, b: pd.Series, metric: str) -> Difference:
    """Cell a − cell b (rows of the split's cell summary) on `metric`."""
    ev = evidence
    found = (_kept(ev and ev.pairs, "cell", "reference_cell", a["cell"], b["cell"], metric, "pairs")
             or _kept(ev and ev.vs_best, "cell", "best_cell", a["cell"], b["cell"], metric, "vs_best"))
    if found is not None:
        return found
    sa, sb = _scores(ev, a["cell"], metric), _scores(ev, b["cell"], metric)
    if sa is not None and sb is not None:
        return _tested((sa - sb.reindex(sa.index)).dropna().to_numpy(dtype=float))
    return Difference(float(a[metric] - b[metric]),
                      float(math.hypot(a[f"{metric}_ci"], b[f"{metric}_ci"])), math.nan, "unpaired")


def between_sets(evidence: Evidence | None, matched: Sequence[tuple[pd.Series, pd.Series]],
                 metric: str) -> Difference:
    """The mean of a − b over matched pairs of cells (the same other settings): per utterance,
    averaged over the pairs, where every cell's scores are here; else from the cells' CIs."""
    if len(matched) == 1:
        return between(evidence, *matched[0], metric)
    outputs = [(_scores(evidence, a["cell"], metric), _scores(evidence, b["cell"], metric)) for a, b in matched]
    if all(x is not None for pair in outputs for x in pair):
        diffs = pd.concat([a - b.reindex(a.index) for a, b in outputs], axis=1).dropna()
        return _tested(diffs.to_numpy(dtype=float).mean(axis=1))
    k = len(matched)
    mean = float(np.mean([a[metric] - b[metric] for a, b in matched]))
    ci = math.sqrt(sum(a[f"{metric}_ci"] ** 2 + b[f"{metric}_ci"] ** 2 for a, b in matched)) / k
    return Difference(mean, float(ci), math.nan, "unpaired")


def over_input(evidence: Evidence | None, cell: pd.Series, metric: str) -> Difference:
    """The cell's output − its noisy input: from its per-utterance scores where they are here, else
    cells.csv's paired delta and its CI (no p: the CI decides)."""
    out, inp = _scores(evidence, cell["cell"], metric), _scores(evidence, cell["cell"], metric, "input")
    if out is not None and inp is not None:
        return _tested((out - inp.reindex(out.index)).dropna().to_numpy(dtype=float))
    return Difference(float(cell[f"{metric}_delta"]), float(cell[f"{metric}_delta_ci"]), math.nan, "paired CI")
