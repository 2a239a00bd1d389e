"""Claim 3's measure, "the SDE matters more than preconditioning and loss weighting": per design
axis, the paired effect of moving that axis alone from SGMSE+'s choice to the recommended one, the
other axes held (and averaged over their values), compared between axes on the same utterances.

Why not the spread (max − min over an axis' values) that the scorecard read before: it grows with
the number of values (eight preconditionings against four SDEs draw more chances at an extreme) and
with any arm that fails to train, so it ranks axes by how many and how broken their arms are. One
step from the same baseline to the recommended choice is the same question asked of each axis.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

BOOTSTRAP = 1000
MIN_SHARED = 10          # fewer shared utterances than this: each axis is bootstrapped on its own

# (label, study, axis, SGMSE+'s value, the recommended value): the study files' own axis labels
AXES = (("SDE", "sde_ablation", "sde", "OUVE (SGMSE+)", "cosine"),
        ("preconditioning", "preconditioning_ablation", "preconditioning", "all richter", "all edm"),
        ("loss weighting", "loss_weighting_ablation", "weighting", "1/σ² (richter)", "edm"))


def axis_effect(d, axis: str, base: str, rec: str) -> dict | None:
    """rec − base on the study's metric over the diffusion cells that differ only in `axis`: per
    utterance ('diffs', utterances × pairs) where every such cell's scores are here, else from the
    cells' means and CIs ('se'). None where no such pair has results."""
    if axis not in d.summary:
        return None
    cells = d.summary[(d.summary["kind"] == "diffusion") & d.summary[d.metric].notna()]
    others = [a for a in d.study.axes if a != axis and a in cells]

    def by_others(value):
        return {tuple(r[a] for a in others): r for _, r in cells[cells[axis] == value].iterrows()}

    bases, recs = by_others(base), by_others(rec)
    pairs = [(bases[k], recs[k]) for k in bases if k in recs]
    if not pairs:
        return None
    m = d.metric
    info = {"base": base, "rec": rec, "pairs": len(pairs),
            "cells": [c["cell"] for pair in pairs for c in pair],
            "steps": sorted({int(s) for pair in pairs for s in (pair[0]["train_steps"], pair[1]["train_steps"])
                             if pd.notna(s)})}
    outputs = [(d.outputs(b["cell"]), d.outputs(r["cell"])) for b, r in pairs]
    if all(o is not None for pair in outputs for o in pair):
        diffs = pd.concat([r - b.reindex(r.index) for b, r in outputs], axis=1).dropna()
        return {**info, "diffs": diffs, "effect": float(diffs.to_numpy().mean()), "se": None,
                "basis": f"paired over {len(diffs)} utterances"}
    se = math.sqrt(sum((math.hypot(b[f"{m}_ci"], r[f"{m}_ci"]) / 1.96) ** 2 for b, r in pairs)) / len(pairs)
    return {**info, "diffs": None, "effect": float(np.mean([r[m] - b[m] for b, r in pairs])), "se": se,
            "basis": "from the cells' CIs, unpaired"}


def effect_draws(effects: dict[str, dict], rng: np.random.Generator) -> tuple[dict[str, np.ndarray], str]:
    """BOOTSTRAP draws of each axis' effect, and how they were drawn: one bootstrap over the
    utterances every study scored (the test split is the same files in every study, so the axes'
    effects are compared paired), else each on its own."""
    diffs = {k: e["diffs"] for k, e in effects.items()}
    if all(v is not None for v in diffs.values()):
        shared = sorted(set.intersection(*(set(v.index) for v in diffs.values())))
        if len(shared) >= MIN_SHARED:
            picks = rng.integers(0, len(shared), size=(BOOTSTRAP, len(shared)))
            per_utt = {k: v.loc[shared].to_numpy(dtype=float).mean(axis=1) for k, v in diffs.items()}
            return ({k: u[picks].mean(axis=1) for k, u in per_utt.items()},
                    f"one bootstrap over the {len(shared)} utterances every study scored, paired")
    draws = {}
    for k, e in effects.items():
        if e["diffs"] is not None:
            u = e["diffs"].to_numpy(dtype=float).mean(axis=1)
            draws[k] = u[rng.integers(0, len(u), size=(BOOTSTRAP, len(u)))].mean(axis=1)
        else:
            draws[k] = e["effect"] + rng.normal(size=BOOTSTRAP) * (e["se"] or 0.0)
    return draws, "each axis bootstrapped on its own, unpaired between axes"


def interval(draws: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)
