"""Paired differences between cells that differ in one axis value: the comparison the claims need.

Every cell scores the same test utterances, so the difference between two cells' outputs, utterance
by utterance, has a far tighter confidence interval than the two cells' own intervals set side by
side (which is all cells.csv allows). Along each axis, every value is compared with the axis's
reference value (the first in the study file: SGMSE+'s choice, `with`, ...) in every context, that
is every combination of the other axes' values in which both cells exist. Each difference carries
its paired-t 95% CI and a Wilcoxon signed-rank p-value, Holm-adjusted over all the comparisons of
one split and metric (so a report of many contexts does not find differences by chance).

One rule reads every difference the reports show (`verdict`, `RULE`): the Holm-adjusted Wilcoxon p
decides whether it counts, the mean gives its sign, and the t-interval is shown but does not decide
(a skewed difference, many small losses and a few large gains, can have an interval clear of 0 that
the rank test does not support). The interval decides only where there is no p: no per-utterance
scores were kept. The p is the rank test's for the direction the mean shows (`wilcoxon_p`), so a
mean whose sign the ranks contradict (a few large losses among many small gains) never counts.

The per-utterance scores live in results/<study>/cells/<hash>/per_utterance.csv (committed with a
run's results, the rest of that folder is not); the differences are also kept in
results/<study>/pairs.csv, so a report rebuilt without them (an older run's) still shows them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from benchmark.audio.metrics import mean_ci95
from benchmark.driver import ledger
from benchmark.report.load import ReportError, Study
from benchmark.report.load import scores as read_scores

OUTPUTS = ["split", "name", "metric", "output"]     # what a paired difference reads of a per_utterance.csv
COLUMNS = ["axis", "value", "reference", "context", "split", "metric", "mean", "ci95", "n",
           "cell", "reference_cell"]
# added later: a pairs.csv kept from before them still loads (its p-values are then missing)
TESTS = ["p_wilcoxon", "p_holm"]


ALPHA = 0.05
# The one rule every page, table, export and claim reads a difference by (verdict below).
RULE = (f"a difference counts as significant when its Wilcoxon signed-rank p over utterances, Holm-adjusted "
        f"within the study's split and metric, is below {ALPHA:g}, and takes the sign of its mean (the p is the "
        "rank test's for the mean's direction: twice its one-sided p toward that sign, so a mean the ranks "
        "contradict has p = 1); the paired 95% "
        "CI is shown beside it but does not decide. Only where no per-utterance scores exist (no p) does the 95% "
        "CI excluding 0 decide, marked CI")
SIGN = "Every difference is treatment − control: the value − the reference it is set against."
CI_MARK = "CI"              # shown where the fallback decided: no p-value behind the verdict


def finite(x) -> bool:
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def verdict(mean: float, ci95: float, p_holm: float) -> int:
    """+1 / −1 where the difference (treatment − control) is significant by RULE, 0 where not or
    where nothing decides (no mean; neither p nor CI). The p is Holm's where the comparison is one
    of a family (pairs.csv, vs_best.csv); a single planned comparison's raw p is its own Holm p."""
    if not finite(mean):
        return 0
    sign = int(np.sign(float(mean)))
    if finite(p_holm):
        return sign if float(p_holm) < ALPHA else 0
    if finite(ci95):       # old results: no per-utterance scores, so no p; the CI decides
        return sign if abs(float(mean)) - float(ci95) > 0 else 0
    return 0


def by_ci(p: float) -> bool:
    """Whether verdict falls back to the CI for this p (none kept: no per-utterance scores)."""
    return not finite(p)


def p_text(p: float) -> str:
    """A p-value as the pages print it; '' where there is none."""
    if not finite(p):
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def wilcoxon_p(diff: np.ndarray) -> float:
    """Wilcoxon signed-rank p-value of paired differences (zeros dropped, Wilcoxon's own convention)
    for the direction their mean shows: twice the one-sided p toward the mean's sign, capped at 1.
    Where the ranks lean the mean's way this is the usual two-sided p; where they lean the other way
    (a skewed difference: many small gains, a few large losses) it is 1, so the verdict, which takes
    its sign from the mean, never reports a direction the rank test contradicts. Twice the one-sided
    p keeps the two-sided error rate. 1 when every difference is zero, NaN with fewer than two values."""
    diff = diff[np.isfinite(diff)]
    if diff.size < 2:
        return float("nan")
    if not np.any(diff != 0):
        return 1.0
    mean = float(np.mean(diff))
    if mean == 0:
        return float(wilcoxon(diff, zero_method="wilcox").pvalue)
    toward = "greater" if mean > 0 else "less"
    return float(min(1.0, 2 * wilcoxon(diff, zero_method="wilcox", alternative=toward).pvalue))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment (Holm 1979): the k-th smallest of m p-values times (m − k + 1),
    made monotone and capped at 1. NaN stays NaN and does not count in m."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m, running = len(order), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def _cells(table: pd.DataFrame, study: Study) -> pd.DataFrame:
    diffusion = table[table["kind"] == "diffusion"]
    return diffusion.drop_duplicates("cell", keep="last")[["cell", *study.axes]]


def compute(table: pd.DataFrame, study: Study, cells_dir: Path) -> pd.DataFrame | None:
    """value − reference of each metric's output, per split, over the utterances both cells
    scored; None when no cell's per-utterance file is here."""
    cells = _cells(table, study)
    scores: dict[str, pd.DataFrame | None] = {}

    def load(cell: str) -> pd.DataFrame | None:
        if cell not in scores:
            path = ledger.per_utterance_under(cells_dir, cell)
            scores[cell] = read_scores(path)[OUTPUTS] if path.is_file() else None
        return scores[cell]

    if not any(load(c) is not None for c in cells["cell"]):
        return None
    rows = []
    for axis, order in study.axes.items():
        others = [a for a in study.axes if a != axis]
        references = cells[cells[axis] == order[0]]
        for _, ref in references.iterrows():
            same_context = (cells[others] == ref[others]).all(axis=1) if others else True
            rivals = cells[same_context & (cells[axis] != order[0]) & (cells[axis] != "")]
            context = " · ".join(f"{a}={ref[a]}" for a in others)
            for _, cell in rivals.iterrows():
                a, b = load(cell["cell"]), load(ref["cell"])
                if a is None or b is None:
                    continue
                both = a.merge(b, on=["split", "name", "metric"], suffixes=("", "_ref"))
                both["diff"] = both["output"] - both["output_ref"]
                for (split, metric), group in both.groupby(["split", "metric"], sort=False):
                    mean, ci, n, _ = mean_ci95(group["diff"].to_numpy())
                    rows.append([axis, cell[axis], order[0], context, split, metric, mean, ci, n,
                                 cell["cell"], ref["cell"], wilcoxon_p(group["diff"].to_numpy())])
    pairs = pd.DataFrame(rows, columns=COLUMNS + TESTS[:1])
    # one family per split and metric: every comparison the report makes on that table
    pairs["p_holm"] = np.nan
    for _, index in pairs.groupby(["split", "metric"], sort=False).groups.items():
        pairs.loc[index, "p_holm"] = holm(pairs.loc[index, "p_wilcoxon"])
    return pairs


BEST_COLUMNS = ["split", "metric", "cell", "best_cell", "mean", "ci95", "n", *TESTS]


def versus_best(table: pd.DataFrame, cells_dir: Path) -> pd.DataFrame | None:
    """Each system (every cell but the input) − the split's best on each metric, per utterance,
    with a Wilcoxon p-value Holm-adjusted over the comparisons of one split and metric: what the
    "not distinguishable from the best" mark of recent SE papers needs. None without the files."""
    systems = table[(table["kind"] != "input") & (table["which"] == "output")]
    systems = systems.drop_duplicates(["cell", "split", "metric"], keep="last")
    scores = {}
    for cell in systems["cell"].unique():
        path = ledger.per_utterance_under(cells_dir, cell)
        if path.is_file():
            scores[cell] = read_scores(path)[OUTPUTS]
    if not scores:
        return None
    rows = []
    for (split, metric), group in systems.groupby(["split", "metric"], sort=False):
        own = {c: f[(f["split"] == split) & (f["metric"] == metric)] for c, f in scores.items()}
        group = group[group["cell"].map(lambda c: c in own and len(own[c]) > 0) & group["mean"].notna()]
        if group.empty:
            continue
        best = group.loc[group["mean"].astype(float).idxmax(), "cell"]
        family = []
        for cell in group["cell"]:
            if cell == best:
                continue
            both = own[cell].merge(own[best], on=["split", "name", "metric"], suffixes=("", "_best"))
            diff = (both["output"] - both["output_best"]).to_numpy()
            mean, ci, n, _ = mean_ci95(diff)
            family.append([split, metric, cell, best, mean, ci, n, wilcoxon_p(diff)])
        adjusted = holm([r[-1] for r in family])
        rows += [r + [p] for r, p in zip(family, adjusted)]
    return pd.DataFrame(rows, columns=BEST_COLUMNS)


def tied_with_best(vs_best: pd.DataFrame | None, split: str, metric: str) -> set[str] | None:
    """Cells of `split` not distinguishable from the best on `metric` (not below it by `verdict`:
    Holm-adjusted over the split's comparisons with the best), the best included; None when the
    tests are not at hand."""
    if vs_best is None:
        return None
    part = vs_best[(vs_best["split"] == split) & (vs_best["metric"] == metric)]
    if part.empty:
        return None
    # not below the best by the rule; no verdict (too few utterances) counts as tied
    tied = [r.cell for r in part.itertuples() if verdict(r.mean, r.ci95, r.p_holm) >= 0]
    return {part["best_cell"].iloc[0], *tied}


def _kept(path: Path, columns: list[str], strings: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={c: str for c in strings}, keep_default_na=False,
                        na_values={c: ["", "nan"] for c in ("mean", "ci95", *TESTS)})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}")
    for column in TESTS:
        if column not in frame:
            frame[column] = np.nan
    return frame


def _store(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    tmp = path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return frame


def load_or_compute(results: Path, study: Study, table: pd.DataFrame) -> pd.DataFrame | None:
    """Recompute pairs.csv from the per-utterance files that are here, keeping the kept file's
    comparisons that they cannot redo (a cell scored where its file was not kept: an older run's,
    or one of a run over fresh machines); None when neither exists (the report then falls back to
    unpaired intervals). Holm's adjustment is redone over the union."""
    pairs, old = compute(table, study, results / "cells"), kept(results)
    if pairs is None or old is None:
        return _store(results / "pairs.csv", pairs) if pairs is not None else old
    present = set(table["cell"])
    key = ["cell", "reference_cell", "split", "metric"]
    redone = pd.MultiIndex.from_frame(pairs[key])
    carried = old[~pd.MultiIndex.from_frame(old[key]).isin(redone)
                  & old["cell"].isin(present) & old["reference_cell"].isin(present)]
    if not carried.empty:
        pairs = pd.concat([pairs, carried[pairs.columns]], ignore_index=True)
        for _, index in pairs.groupby(["split", "metric"], sort=False).groups.items():
            pairs.loc[index, "p_holm"] = holm(pairs.loc[index, "p_wilcoxon"])
    return _store(results / "pairs.csv", pairs)


def kept(results: Path) -> pd.DataFrame | None:
    """results/<study>/pairs.csv as the study's last report wrote it; None when there is none."""
    return _kept(results / "pairs.csv", COLUMNS,
                 ("axis", "value", "reference", "context", "split", "metric", "cell", "reference_cell"))


def load_or_compute_best(results: Path, table: pd.DataFrame) -> pd.DataFrame | None:
    """The same for vs_best.csv (versus_best), kept beside pairs.csv. Each row is against the
    split's best, so rows cannot be carried over as pairs.csv's are: with a system's per-utterance
    file missing the kept file is read, if there is one."""
    old = _kept(results / "vs_best.csv", BEST_COLUMNS, ("split", "metric", "cell", "best_cell"))
    systems = set(table[table["kind"] != "input"]["cell"])
    if old is not None and not all(ledger.per_utterance(results, c).is_file() for c in systems):
        return old
    found = versus_best(table, results / "cells")
    return _store(results / "vs_best.csv", found) if found is not None else old
