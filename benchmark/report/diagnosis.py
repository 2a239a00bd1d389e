"""Why the drift toward y hurts at embedded scale: the sentence sde_ablation's report takes from the
sampling-only study that asks it (`diagnosis: drift_and_prior` in studies/sde_ablation.yaml).

drift_and_prior scores with and without the drift on the same weights (cosine, all-EDM: one model)
under samplers that differ in one thing each, and on OUVE (SGMSE+), which trains a model per γ. The
σ-space sampler never reads γ, so there a gap is the training's; in x-space it is the walk's as well.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from benchmark.report import paired_stats
from benchmark.report.claims import Claim
from benchmark.report.load import ReportError, Study, load_cells, load_study
from benchmark.report.tables import fmt, metric_name

SIGMA_SPACE = "σ-space"


def load(study: Study, results_dir: Path, studies_dir: Path) -> tuple[Study, pd.DataFrame] | None:
    """The diagnosing study's file and its paired differences, or None while it has no results.
    The pairs.csv its own report wrote when it is newer than its cells.csv, else computed from its
    per-utterance files; read only: this report never writes into the other study's folder."""
    name = (study.raw or {}).get("diagnosis")
    if not name or not (results_dir / name / "cells.csv").is_file():
        return None
    other = load_study(studies_dir / f"{name}.yaml")
    folder = results_dir / name
    current = (folder / "pairs.csv").is_file() and (
        (folder / "pairs.csv").stat().st_mtime >= (folder / "cells.csv").stat().st_mtime)
    pairs = paired_stats.kept(folder) if current else None       # stale after a run with --no-report
    if pairs is None:
        pairs = paired_stats.compute(load_cells(folder / "cells.csv", other), other, folder / "cells")
    return (other, pairs) if pairs is not None and len(pairs) else None


def _context(text: str) -> dict:
    return dict(part.split("=", 1) for part in str(text).split(" · ") if "=" in part)


def drift_gaps(pairs: pd.DataFrame, split: str, metric: str) -> list[tuple[str, str, float, float, float]]:
    """(sde, sampler, without − with, paired 95% CI, Holm p) for every context of the drift axis:
    pairs.csv's value − reference (the study's reference is `with`), treatment − control."""
    rows = pairs[(pairs["axis"] == "drift") & (pairs["split"] == split) & (pairs["metric"] == metric)]
    out = []
    for r in rows.itertuples():
        ctx = _context(r.context)
        p = float(getattr(r, "p_holm", math.nan))
        out.append((ctx.get("sde", ""), ctx.get("sampler", ""), float(r.mean), float(r.ci95), p))
    return out


def _shown(gaps, metric) -> str:
    return "; ".join(f"{sampler} {fmt(d, metric, True)} ± {fmt(ci, metric)}"
                     + (f" ({paired_stats.p_text(p)})" if paired_stats.finite(p) else f" ({paired_stats.CI_MARK})")
                     for _, sampler, d, ci, p in gaps)


def drift_diagnosis(pairs: pd.DataFrame, split: str, metric: str, source: str) -> Claim | None:
    """Where the drift's loss comes from, each gap read by the reports' rule (paired_stats.verdict)."""
    gaps = drift_gaps(pairs, split, metric)
    shared = [g for g in gaps if g[0] == "cosine"]
    own = [g for g in gaps if g[0] != "cosine"]
    if not shared:
        return None
    topic = "why the drift hurts"

    def sign(g):
        return paired_stats.verdict(g[2], g[3], g[4])

    walk = [g for g in shared if g[1] != SIGMA_SPACE]
    free = [g for g in shared if g[1] == SIGMA_SPACE]
    text = (f"From {source}, without − with the drift, {metric_name(metric)}, paired (Holm-adjusted Wilcoxon "
            f"p). Cosine SDE, one model for both: {_shown(shared, metric)}.")
    trained = [g for g in own if g[1] == SIGMA_SPACE]
    if own:
        text += f" OUVE (SGMSE+), a model per γ: {_shown(own, metric)}."
    hurt = [g for g in walk if sign(g) > 0]              # better without: the drift costs
    if free and all(sign(g) == 0 for g in free) and hurt:
        text += (f" On shared weights the drift costs significantly under {len(hurt)} of {len(walk)} x-space "
                 "samplers and not in σ-space, where the sampler never reads γ: the drift's loss is "
                 "the x-space walk's, not the training's.")
        if trained:
            text += (" On OUVE (SGMSE+), where γ also changes the training, the σ-space gap "
                     + ("is significant: part of the loss is the training's." if sign(trained[0]) > 0
                        else "is not significant: the training adds no loss of its own."))
        return Claim(topic, text, "the sampler's walk", "neutral")
    if not hurt:
        return Claim(topic, text + " No x-space sampler shows a significant gap on shared weights.",
                     "no loss to explain", "neutral")
    return Claim(topic, text + " The σ-space cells differ as well, so the walk does not explain it all.",
                 "not the walk alone", "neutral")


__all__ = ["load", "drift_gaps", "drift_diagnosis", "ReportError"]
