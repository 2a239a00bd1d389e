"""Short, data-driven sentences that set a study's table against the paper's claims.

Every sentence is computed from the table; none quotes a paper number. Each comparison a sentence
makes is a paired difference read by the reports' one rule (paired_stats.verdict: Holm-adjusted
Wilcoxon p < 0.05, the mean's sign), taken from pairs.csv or vs_best.csv where the report already
tests it and otherwise computed from the per-utterance scores (evidence.py); only where those are
missing do the cells' CIs decide, and the sentence says so.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from benchmark.report import paired_stats
from benchmark.report.evidence import Evidence, between, between_sets, over_input, shown
from benchmark.report.load import Study
from benchmark.report.tables import axis_pivot, fmt, metric_name, ordered_values

WITHOUT = re.compile(r"without|^no\b|^no[-_ ]|\boff\b|false|none"
                     r"|(γ|gamma|stiffness)\s*=\s*0(\.0*)?$|^0(\.0*)?$", re.IGNORECASE)
DRIFT_AXES = re.compile(r"drift|transformation|progressive", re.IGNORECASE)
PAPER_RIVALS = re.compile(r"precond|weight|loss", re.IGNORECASE)
SGMSE = re.compile(r"sgmse", re.IGNORECASE)
# The paper: "reducing the computational cost by a factor of four" (abstract, arXiv 2312.04370).
PAPER_NFE_FACTOR = 4


@dataclass(frozen=True)
class Claim:
    topic: str
    text: str
    verdict: str          # a few words shown as a badge
    tone: str             # good | bad | neutral | invalid: the badge colour
    cells: tuple = ()     # the systems the verdict compares: each must work (validity.gate_claim)


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def pm(mean: float, ci: float, metric: str, signed: bool = False) -> str:
    """`mean ± ci` at the metric's decimals (the ± left out where the CI is unknown)."""
    return fmt(mean, metric, signed) + (f" ± {fmt(ci, metric)}" if _finite(ci) else "")


def axis_claim(summary: pd.DataFrame, axis: str, order: list[str], metric: str,
               others: Sequence[str] = (), evidence: Evidence | None = None) -> Claim:
    """Best value of one axis, the range of its means, and whether the best stands clear.

    Means over the other axes (`others`) compare like with like only when every value was run under
    the same settings of them; otherwise (a bridge's "built in" drift next to with/without) each
    value is represented by its best cell."""
    name = metric_name(metric)
    balanced = _balanced(summary, axis, others, metric)
    pivot = axis_pivot(summary, axis, order, [metric]) if balanced else _best_cells(summary, axis, order, metric)
    pivot = pivot[pivot[metric].notna()].sort_values(metric, ascending=False, kind="stable")
    if pivot.empty:
        return Claim(axis, f"No diffusion cell along {axis} has a {name} result yet.",
                     "no data", "neutral")
    best = pivot.iloc[0]
    if len(pivot) == 1:
        return Claim(axis, f"Only {axis} = {best['value']} has results so far ({name} "
                     f"{pm(best[metric], best[f'{metric}_ci'], metric)}); nothing to compare.",
                     "one value", "neutral")
    runner = pivot.iloc[1]
    spread = pivot[metric].max() - pivot[metric].min()
    best_pm = pm(best[metric], best[f"{metric}_ci"], metric)
    if balanced:
        basis, what = f"mean over {int(best['cells'])} cell(s)", "Means"
    else:
        rest = ", ".join(o for o in others if o != axis)
        basis = f"its best cell, {best['label']}"
        what = f"The values were not all run under the same {rest}, so each stands for its best cell. Best cells"
    text = (f"Best {axis}: {best['value']} ({name} {best_pm}, {basis}). {what} across its "
            f"{len(pivot)} values range {fmt(pivot[metric].min(), metric)}–{fmt(pivot[metric].max(), metric)} "
            f"(spread {fmt(spread, metric)}). ")
    d = between_sets(evidence, _matched(summary, axis, best, runner, others, metric, balanced), metric)
    runner_text = f"the runner-up {runner['value']} ({fmt(runner[metric], metric)})"
    if not d.judged:
        return Claim(axis, text + f"Separation from {runner_text} cannot be judged: no test and no "
                     "CI.", "CI unknown", "neutral")
    if d.sign > 0:
        return Claim(axis, text + f"The best is above {runner_text}: {shown(d, metric)}.",
                     "separated", "good", _compared(summary, axis))
    return Claim(axis, text + f"The best and {runner_text} are not distinguishable ({shown(d, metric)}), "
                 "so the ranking along this axis is not resolved by these data.", "not resolved", "neutral")


def _matched(summary: pd.DataFrame, axis: str, best: pd.Series, runner: pd.Series, others: Sequence[str],
             metric: str, balanced: bool) -> list[tuple[pd.Series, pd.Series]]:
    """The cells the best value and the runner-up stand for, paired by the other axes' settings:
    each value's own best cell where the values were not run under the same settings."""
    cells = _diffusion_along(summary, axis, metric)
    if not balanced:
        return [(cells[cells["cell"] == best["cell"]].iloc[0], cells[cells["cell"] == runner["cell"]].iloc[0])]
    keys = [o for o in others if o != axis and o in cells]

    def by_setting(value):
        return {tuple(r[k] for k in keys): r for _, r in cells[cells[axis] == value].iterrows()}
    a, b = by_setting(best["value"]), by_setting(runner["value"])
    return [(a[k], b[k]) for k in a if k in b]


def _diffusion_along(summary: pd.DataFrame, axis: str, metric: str) -> pd.DataFrame:
    return summary[(summary["kind"] == "diffusion") & (summary[axis] != "") & summary[metric].notna()]


def _balanced(summary: pd.DataFrame, axis: str, others: Sequence[str], metric: str) -> bool:
    """Whether every value of `axis` has results under the same settings of the other axes."""
    others = [o for o in others if o != axis and o in summary]
    if not others:
        return True
    cells = _diffusion_along(summary, axis, metric)
    settings = {frozenset(map(tuple, group[others].astype(str).values)) for _, group in cells.groupby(axis)}
    return len(settings) <= 1


def _best_cells(summary: pd.DataFrame, axis: str, order: Sequence[str], metric: str) -> pd.DataFrame:
    """Per value of `axis`, its best cell on `metric` (value, cells = 1, metric, CI, label)."""
    cells = _diffusion_along(summary, axis, metric)
    rows = []
    for value in ordered_values(cells[axis], order):
        top = _best(cells[cells[axis] == value], metric)
        rows.append({"value": value, "cells": 1, metric: float(top[metric]),
                     f"{metric}_ci": float(top[f"{metric}_ci"]), "label": top["label"], "cell": top["cell"]})
    return pd.DataFrame(rows, columns=["value", "cells", metric, f"{metric}_ci", "label", "cell"])


def spread_claim(summary: pd.DataFrame, study: Study, metric: str) -> Claim | None:
    """Which axis moves the metric most; the paper finds the SDE matters more than
    preconditioning and loss weighting."""
    spreads = {}
    for axis, order in study.axes.items():
        # Only the grid's own values: an `extra` cell's label (a bridge's "built in" drift) is not
        # a setting of that axis and would lend it the spread of another axis.
        pivot = axis_pivot(summary, axis, order, [metric])
        means = pivot[pivot["value"].isin(order)][metric].dropna()
        if len(means) >= 2:
            spreads[axis] = float(means.max() - means.min())
    if len(spreads) < 2:
        return None
    ranked = sorted(spreads.items(), key=lambda kv: -kv[1])
    text = (f"Spread of the mean {metric_name(metric)} across each axis's values: "
            + " > ".join(f"{axis} {fmt(s, metric)}" for axis, s in ranked) + ".")
    sde_axes = [axis for axis in spreads if "sde" in axis.lower()]
    if not sde_axes:
        return Claim("axes compared", text, "info", "neutral")
    # The paper's comparison is SDE vs preconditioning and loss weighting; against other axes
    # (a sampler, say) the ranking is reported but not scored against the paper.
    paper_axes = [a for a in spreads if PAPER_RIVALS.search(a) and a not in sde_axes]
    sde_spread = max(spreads[a] for a in sde_axes)
    if paper_axes:
        rival = max(paper_axes, key=spreads.get)
        cells = tuple(summary[summary["kind"] == "diffusion"]["cell"])
        if sde_spread > spreads[rival]:
            return Claim("axes compared", text + " The SDE axis moves the metric more than "
                         f"{', '.join(paper_axes)}, as the paper reports.",
                         "consistent with the paper", "good", cells)
        return Claim("axes compared", text + f" {rival} moves the metric at least as much as "
                     "the SDE, unlike the paper's finding.", "differs from the paper", "bad", cells)
    across = (" This is not the paper's comparison, which sets the SDE against preconditioning and "
              "loss weighting, across studies: the scorecard (index.html) makes it.")
    if ranked[0][0] in sde_axes:
        return Claim("axes compared", text + " The SDE axis moves the metric most here." + across,
                     "SDE largest here", "neutral")
    return Claim("axes compared", text + f" {ranked[0][0]} moves the metric more than the SDE "
                 "here." + across, "SDE not largest here", "neutral")


def _drift_contexts(summary: pd.DataFrame, axes: list[str], axis: str, metric: str,
                    pairs: pd.DataFrame | None) -> tuple[list[tuple[str, float, float, float]], bool]:
    """(context, without − with, CI, Holm p) wherever a context has both: treatment − control, as
    pairs.csv holds it. Paired when `pairs` has them, else from the two cells' own CIs
    (√(ci₁² + ci₂²), wider than the paired one; no p)."""
    out = []
    if pairs is not None and len(pairs):
        for r in pairs[(pairs["axis"] == axis) & (pairs["metric"] == metric)].itertuples():
            value_off, reference_off = bool(WITHOUT.search(r.value)), bool(WITHOUT.search(r.reference))
            if value_off != reference_off:            # pairs.csv holds value − reference
                p = float(getattr(r, "p_holm", math.nan))
                out.append((r.context, r.mean if value_off else -r.mean, r.ci95, p))
        if out:
            return out, True
    cells = _diffusion_along(summary, axis, metric)
    others = [a for a in axes if a != axis]
    groups = cells.groupby(others, sort=False) if others else [((), cells)]
    for key, group in groups:
        off = group[group[axis].map(lambda v: bool(WITHOUT.search(v)))]
        on = group[~group.index.isin(off.index)]
        if len(off) == 1 and len(on) == 1:
            key = key if isinstance(key, tuple) else (key,)
            context = " · ".join(f"{a}={v}" for a, v in zip(others, key))
            a, b = off.iloc[0], on.iloc[0]
            ci = math.hypot(a[f"{metric}_ci"], b[f"{metric}_ci"])
            out.append((context, a[metric] - b[metric], ci, math.nan))
    return out, False


def drift_claim(summary: pd.DataFrame, axis: str, metric: str,
                pairs: pd.DataFrame | None = None, axes: list[str] | None = None) -> Claim | None:
    """Without vs with the drift toward y (the progressive transformation), within each context
    (each SDE): the paper's claim is that the drift is not what makes these systems work."""
    axes = axes or [axis]
    found, paired = _drift_contexts(summary, axes, axis, metric, pairs)
    if not found:
        return None
    topic = "progressive transformation"
    known = [(d, ci, p) for _, d, ci, p in found if _finite(d) and (_finite(p) or _finite(ci))]
    fallback = sum(paired_stats.by_ci(p) for _, _, p in known)
    how = ("paired over the same utterances" if paired
           else f"unpaired/{paired_stats.CI_MARK}: the two cells' CIs combined, no per-utterance scores")
    if paired and known and fallback == len(known):
        how += f"; no p kept, so the CI decides ({paired_stats.CI_MARK})"
    parts = [f"{ctx + ' ' if ctx else ''}{fmt(d, metric, True)}"
             + (f" ± {fmt(ci, metric)}" if _finite(ci) else "")
             + (f" ({paired_stats.p_text(p)})" if _finite(p) else "") for ctx, d, ci, p in found]
    text = f"Without − with the drift, {metric_name(metric)} ({how}): {'; '.join(parts)}. "
    if not known:
        return Claim(topic, text + "No test and no CI is known, so this cannot be judged.", "CI unknown",
                     "neutral")
    signs = [paired_stats.verdict(d, ci, p) for d, ci, p in known]
    helps, hurts, n = signs.count(-1), signs.count(1), len(known)   # a drift that helps: without is lower
    cells = _compared(summary, axis)
    if fallback == n:
        helped, better = "helps beyond the CI", "is better beyond the CI"
    else:
        mark = f" ({paired_stats.CI_MARK} where no p)" if fallback else ""
        helped, better = f"helps significantly{mark}", f"is significantly better{mark}"
    counts = (f"The drift {helped} in {helps} of {n}"
              + (f"; without the drift {better} in {hurts} of {n}" if hurts else "") + ". ")
    if helps == 0:
        return Claim(topic, text + counts + "These data do not "
                     "attribute performance to the progressive transformation, consistent with "
                     "the paper.", "consistent with the paper", "good", cells)
    if helps == n:
        return Claim(topic, text + counts + "The drift helps everywhere, unlike the paper's "
                     "claim.", "contradicts the paper", "bad", cells)
    return Claim(topic, text + counts + "The gain from the drift is not systematic.", "mixed",
                 "neutral", cells)


def _compared(summary: pd.DataFrame, axis: str) -> tuple:
    """The diffusion cells with a value on `axis`: the systems a claim about that axis compares."""
    rows = summary[(summary["kind"] == "diffusion") & (summary[axis].astype(str) != "")]
    return tuple(rows["cell"])


def _best(cells: pd.DataFrame, metric: str) -> pd.Series | None:
    cells = cells[cells[metric].notna()]
    return None if cells.empty else cells.sort_values(metric, ascending=False,
                                                      kind="stable").iloc[0]


def _cell_name(cell: pd.Series) -> str:
    says_nfe = re.search(r"\bNFE\b", str(cell["label"]))        # "SGMSE+ (NFE 60)" says it already
    nfe = f", NFE {int(cell['nfe'])}" if _finite(cell.get("nfe")) and not says_nfe else ""
    return f"{cell['label']}{nfe}"


def versus_input(summary: pd.DataFrame, reference: tuple[float, float], metric: str,
                 evidence: Evidence | None = None) -> Claim:
    name = metric_name(metric)
    topic = "best diffusion vs noisy input"
    best = _best(summary[summary["kind"] == "diffusion"], metric)
    if best is None:
        return Claim(topic, f"No diffusion cell has a {name} result yet.", "no data", "neutral")
    d = over_input(evidence, best, metric)
    text = (f"Best diffusion cell ({_cell_name(best)}): {name} "
            f"{pm(best[metric], best[f'{metric}_ci'], metric)} vs noisy input "
            f"{pm(*reference, metric)}; output − input {shown(d, metric)}. ")
    if not d.judged:
        return Claim(topic, text + "Neither a test nor the delta's CI is known.", "CI unknown", "neutral")
    if d.sign > 0:
        return Claim(topic, text + "It improves on the input.", "above input", "good")
    if d.sign < 0:
        return Claim(topic, text + "It is worse than the unprocessed input.", "below input", "bad")
    return Claim(topic, text + "It is not distinguishable from the input.", "no change", "neutral")


def versus_predictive(summary: pd.DataFrame, metric: str, evidence: Evidence | None = None) -> Claim | None:
    name = metric_name(metric)
    topic = "best diffusion vs predictive"
    best = _best(summary[summary["kind"] == "diffusion"], metric)
    pred = _best(summary[summary["kind"] == "predictive"], metric)
    if best is None or pred is None:
        return None
    d = between(evidence, best, pred, metric)
    pred_pm = pm(pred[metric], pred[f"{metric}_ci"], metric)
    text = (f"Best diffusion cell {pm(best[metric], best[f'{metric}_ci'], metric)} vs the "
            f"predictive baseline ({_cell_name(pred)}) {pred_pm} {name}; diffusion − predictive "
            f"{shown(d, metric)}. ")
    if not d.judged:
        return Claim(topic, text + "Neither a test nor a CI is known.", "CI unknown", "neutral")
    if d.sign == 0:
        return Claim(topic, text + "The two are not distinguishable.", "tie", "neutral")
    if d.sign > 0:
        return Claim(topic, text + "Diffusion is ahead.", "diffusion ahead", "good")
    return Claim(topic, text + "The predictive baseline is ahead.", "predictive ahead", "bad")


def headline_claim(summary: pd.DataFrame, study: Study, metric: str,
                   evidence: Evidence | None = None) -> Claim | None:
    """Does the best cell with fewer NFE than the SGMSE+ setting match or beat it? The SGMSE+
    cells are named by the study's optional `baseline` key, else by 'sgmse' in label or axes."""
    marker = study.raw.get("baseline")
    pattern = re.compile(re.escape(str(marker)), re.IGNORECASE) if marker else SGMSE
    diffusion = summary[summary["kind"] == "diffusion"]
    if diffusion.empty:
        return None
    text_columns = ["label", *study.axes]
    is_base = diffusion[text_columns].apply(
        lambda row: any(pattern.search(str(v)) for v in row), axis=1).astype(bool)
    base = _best(diffusion[is_base], metric)
    if base is None or not _finite(base.get("nfe")):
        return None
    others = diffusion[~is_base & (diffusion["nfe"] < base["nfe"])]
    if others.empty:
        return None         # no cheaper cell in this study (an ablation at one NFE): no headline
    best = _best(others, metric)
    name = metric_name(metric)
    if best is None:
        return Claim("recommended setting vs SGMSE+", f"No cell with fewer NFE than the SGMSE+ "
                     f"setting ({_cell_name(base)}) has a {name} result yet.", "no data",
                     "neutral")
    ratio = base["nfe"] / best["nfe"]
    text = (f"SGMSE+ setting ({_cell_name(base)}): {name} "
            f"{pm(base[metric], base[f'{metric}_ci'], metric)}. Best cell with fewer NFE "
            f"({_cell_name(best)}, {ratio:.2g}× fewer): "
            f"{pm(best[metric], best[f'{metric}_ci'], metric)}. "
            f"The paper reports beating SGMSE+ at about 1/{PAPER_NFE_FACTOR} of its cost. ")
    return _judged("recommended setting vs SGMSE+", text, best, base, metric, evidence,
                   beats=("Here it beats SGMSE+", "consistent with the paper", "good"),
                   short=("Here it falls short of SGMSE+", "contradicts the paper", "bad"),
                   matches=("Here it matches SGMSE+: not distinguishable", "matches", "neutral"))


def _judged(topic: str, text: str, best: pd.Series, ref: pd.Series, metric: str, evidence: Evidence | None,
            beats: tuple, short: tuple, matches: tuple) -> Claim:
    """The verdict on a cheaper cell against a reference cell by the paired test (cheaper − reference);
    each of beats, short and matches is (sentence, verdict, tone)."""
    d = between(evidence, best, ref, metric)
    if not d.judged:
        return Claim(topic, text + "Neither a test nor a CI is known.", "CI unknown", "neutral")
    sentence, verdict, tone = matches if d.sign == 0 else beats if d.sign > 0 else short
    return Claim(topic, text + f"{sentence} ({shown(d, metric)}).", verdict, tone, (best["cell"], ref["cell"]))


def few_step_claim(summary: pd.DataFrame, study: Study, metric: str,
                   evidence: Evidence | None = None) -> Claim | None:
    """The study's `few_step` key: does the best candidate (label matching `candidates`) at
    NFE ≤ `nfe_fraction` × the reference cell's match (not distinguishable) or beat the reference?"""
    spec = study.raw.get("few_step")
    if not spec:
        return None
    topic, name = "few-step methods vs the recommended setting", metric_name(metric)
    diffusion = summary[summary["kind"] == "diffusion"]
    ref = _best(diffusion[diffusion["label"] == spec["reference"]], metric)
    if ref is None or not _finite(ref.get("nfe")):
        return Claim(topic, f"The reference cell ({spec['reference']}) has no {name} result yet.",
                     "no data", "neutral")
    budget = float(spec.get("nfe_fraction", 1 / 3)) * ref["nfe"]
    pattern = re.compile(str(spec["candidates"]))
    cands = diffusion[diffusion["label"].map(lambda v: bool(pattern.search(str(v))))
                      & (diffusion["nfe"] <= budget)]
    best = _best(cands, metric)
    if best is None:
        return Claim(topic, f"No few-step cell ({spec['candidates']}) at NFE ≤ {budget:.3g} has a "
                     f"{name} result yet.", "no data", "neutral")
    text = (f"Reference ({_cell_name(ref)}): {name} {pm(ref[metric], ref[f'{metric}_ci'], metric)}. "
            f"Best few-step cell at NFE ≤ {budget:.3g} ({_cell_name(best)}): "
            f"{pm(best[metric], best[f'{metric}_ci'], metric)}. ")
    return _judged(topic, text, best, ref, metric, evidence,
                   beats=("It beats the reference", "beats", "good"),
                   short=("It falls short of the reference", "falls short", "bad"),
                   matches=("It matches the reference: not distinguishable", "matches", "good"))


def claim_check(summary: pd.DataFrame, study: Study, reference: tuple[float, float],
                metric: str, pairs: pd.DataFrame | None = None, evidence: Evidence | None = None) -> list[Claim]:
    """`pairs`: this split's rows of pairs.csv (paired differences), when there are any; `evidence`:
    what the paired tests draw on (this split's pairs.csv and vs_best.csv rows and per-utterance
    files); without it every comparison is unpaired and the CIs decide."""
    if evidence is None and pairs is not None:
        evidence = Evidence("", pairs=pairs)
    claims = []
    for axis, order in study.axes.items():
        if DRIFT_AXES.search(axis):
            found = drift_claim(summary, axis, metric, pairs, list(study.axes))
            if found:
                claims.append(found)
                continue            # "best drift" would rank a third value (a bridge's) as well
        claims.append(axis_claim(summary, axis, order, metric, list(study.axes), evidence))
    extra = [spread_claim(summary, study, metric), headline_claim(summary, study, metric, evidence),
             few_step_claim(summary, study, metric, evidence),
             versus_input(summary, reference, metric, evidence), versus_predictive(summary, metric, evidence)]
    return claims + [c for c in extra if c is not None]
