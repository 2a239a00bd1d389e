"""What a page opens with, under the claim: the study's findings in a few of its claim check's own
sentences, and the primary metric of every split in one small table.

The sentences are the Claim objects the first split's claim check made (claims.claim_check), picked
and ordered here, never reworded or recomputed: the opening and the section below must say the same.
"""
from __future__ import annotations

import math

import pandas as pd

from benchmark.report.claims import Claim, pm

SHOWN = 4
# The claims that answer a study's own question first; the comparisons every page makes last.
FIRST = ("recommended setting vs SGMSE+", "few-step methods vs the recommended setting",
         "progressive transformation", "axes compared")
LAST = ("best diffusion vs predictive", "best diffusion vs noisy input")
NOT_A_FINDING = ("no data", "one value")


def findings(claims: list[Claim]) -> list[Claim]:
    """Up to SHOWN of the claim check's sentences: the study's question first, then each axis's
    answer, then the comparisons with the predictive baseline and the input."""
    def rank(item):
        position, claim = item
        if claim.topic in FIRST:
            return (0, FIRST.index(claim.topic))
        if claim.topic in LAST:
            return (2, LAST.index(claim.topic))
        return (1, position)
    kept = [(i, c) for i, c in enumerate(claims) if c.verdict not in NOT_A_FINDING]
    return [c for _, c in sorted(kept, key=rank)[:SHOWN]]


def _best(summary: pd.DataFrame, kind: str, metric: str) -> pd.Series | None:
    rows = summary[(summary["kind"] == kind) & summary[metric].notna()]
    return None if rows.empty else rows.sort_values(metric, ascending=False, kind="stable").iloc[0]


def split_row(summary: pd.DataFrame, split: str, metric: str, reference: tuple[float, float]) -> dict:
    """One row of the cross-split table: the input, the best diffusion cell and the predictive
    baseline on `metric`, mean ± 95% CI (the claim check's own ± text)."""
    def entry(row):
        if row is None:
            return {"label": "", "text": "—"}
        return {"label": str(row["label"]), "text": pm(row[metric], row[f"{metric}_ci"], metric)}
    mean, ci = reference
    return {"split": split, "input": pm(mean, ci, metric) if math.isfinite(mean) else "—",
            "best": entry(_best(summary, "diffusion", metric)),
            "predictive": entry(_best(summary, "predictive", metric))}
