"""Validity before verdicts: a finding compares systems that work, each trained to a stated criterion.

Before a finding's verdict stands, every system it compares passes three checks on the verdict's
split and the study's primary metric:

    above input   the system's output beats its noisy input, paired over the same utterances, by the
                  reports' rule (paired_stats.verdict): mean Δ (output − input) > 0 and Wilcoxon
                  signed-rank p < 0.05 (the per-utterance scores); without them, the lower end of
                  cells.csv's 95% CI of Δ above 0
    converged     its model gained less than store.CONVERGENCE_GAIN (0.02) of validation PESQ-WB
                  over the last quarter of its training (results/<study>/training.csv); a model
                  without that record has not shown that it converged
    baseline      where a claim names the paper's baseline (SGMSE+), the cell is the paper's:
                  richter-ouve, all-richter preconditioning, PC with N = 30 and one corrector step

A finding with a failed check reads "not valid at this scale", names the check and its numbers, and
keeps the verdict it would have had as context. Systems that do not enhance, or that are still
learning, compare how fast each half-learns, not the designs the paper studies.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.config import to_dict
from benchmark.diffusion.preconditioning import TERMS, Preconditioning
from benchmark.report import paired_stats, tables

INVALID = "not valid at this scale"
SGMSE = {"sde": "richter-ouve", "preconditioning": "richter", "sampler": "pc", "steps": 30, "corrector_steps": 1}


@dataclass(frozen=True)
class Check:
    name: str          # above input | converged | baseline
    passed: bool
    text: str          # "<study> <cell> [<label>]: <detail>"
    detail: str = ""   # the figures alone (the index's Δ column)


def above_input(d, cell: str, split: str) -> Check:
    """The cell's output against its own noisy input on `split` and the study's metric, paired."""
    m = d.metric
    label = _label(d, cell)
    frame = d.scores.get(cell)
    if frame is not None:
        part = frame[(frame["split"] == split) & (frame["metric"] == m)]
        if len(part) and "input" in part:
            diff = (part["output"] - part["input"]).dropna().to_numpy(dtype=float)
            mean, ci, _, _ = mean_ci95(diff)
            p = paired_stats.wilcoxon_p(diff)
            passed = paired_stats.verdict(mean, ci, p) > 0      # one planned comparison: its p is Holm's
            detail = f"{_signed(mean, ci, m)}, Wilcoxon p = {p:.2g} ({len(diff)} utterances)"
            return Check("above input", passed, f"{label}: Δ over the input {detail}", detail)
    rows = d.table[(d.table["cell"] == cell) & (d.table["split"] == split) & (d.table["metric"] == m)
                   & (d.table["which"] == "delta")]
    if rows.empty:
        return Check("above input", False, f"{label}: no scores against the input on {split}")
    mean, ci = float(rows["mean"].iloc[0]), float(rows["ci95"].iloc[0])
    detail = f"{_signed(mean, ci, m)} ({paired_stats.CI_MARK}: per-utterance scores not at hand)"
    passed = paired_stats.verdict(mean, ci, math.nan) > 0
    return Check("above input", passed, f"{label}: Δ over the input {detail}", detail)


def converged(d, cell: str, training: pd.DataFrame | None) -> Check:
    """The cell's model's gain over the last quarter of its training, from training.csv."""
    label = _label(d, cell)
    thash = _training_hash(d, cell)
    row = None if training is None or thash is None else training[training["training_hash"] == thash]
    if row is None or row.empty:
        return Check("converged", False, f"{label}: model {thash or '?'} has no learning curve in the results "
                                         "(training.csv), so its convergence is not shown")
    r = row.iloc[0]
    passed = str(r["converged"]).lower() == "true"
    return Check("converged", passed,
                 f"{label}: validation {tables.metric_name(r['metric'])} {r['from_value']:.3f} at step "
                 f"{int(r['from_step'])} → {r['to_value']:.3f} at step {int(r['steps'])}, gain {r['gain']:+.3f} "
                 f"(criterion < {r['limit']:.2f}; {int(r['val_utterances'])} validation utterances)")


def paper_baseline(d, cell: str, cfg) -> Check:
    """Whether the cell is SGMSE+ as published (the paper's own baseline of its headline claim);
    `cfg`: the cell's composed configuration (None where its study file cannot say)."""
    label = _label(d, cell)
    if cfg is None:
        return Check("baseline", False, f"{label}: its configuration is not at hand to check")
    p = Preconditioning.from_config(**to_dict(cfg.preconditioning))
    found = {"sde": cfg.sde.name, "preconditioning": "richter" if all(getattr(p, t) == "richter" for t in TERMS)
             else "not all richter", "sampler": cfg.sampler.name, "steps": cfg.sampler.get("steps"),
             "corrector_steps": cfg.sampler.get("corrector_steps")}
    wrong = {k: v for k, v in found.items() if v != SGMSE[k]}
    return Check("baseline", not wrong, f"{label}: " + ("SGMSE+ as published (richter-ouve, richter "
                                                        "preconditioning, PC N = 30, one corrector step)"
                                                        if not wrong else f"not SGMSE+ as published: {wrong}"))


def gate(finding, data: dict, split: str, training: dict[str, pd.DataFrame], configs=None):
    """`finding` as it stands, or "not valid at this scale" with the checks that fail.
    `finding.systems`: (study, cell) of every system its verdict compares; `finding.baselines`: those
    of them that stand for the paper's SGMSE+; `configs(study, cell)`: a cell's configuration."""
    systems = list(dict.fromkeys(getattr(finding, "systems", []) or []))
    if not systems or finding.verdict in ("not yet run", "no data", "not tested"):
        return finding
    checks, models = [], set()
    for study, cell in systems:
        d = data[study]
        checks.append(above_input(d, cell, split))
        model = _training_hash(d, cell)
        if (study, model) not in models:             # one check per model, however many cells sample it
            models.add((study, model))
            checks.append(converged(d, cell, training.get(study)))
    checks += [paper_baseline(data[s], c, configs(s, c) if configs else None)
               for s, c in getattr(finding, "baselines", []) or []]
    failed = [c for c in checks if not c.passed]
    if not failed:
        return replace(finding, checks=checks)
    text = (f"Not a finding: {_why(checks, failed)}. The comparison would have read \"{finding.verdict}\": "
            f"{finding.text}")
    return replace(finding, verdict=INVALID, tone="invalid", text=text, checks=checks,
                   numbers=[f"✗ {c.text}" for c in failed] + finding.numbers)


@dataclass(frozen=True)
class PageData:
    """What the checks read of one study on a study page (the scorecard passes its StudyData)."""
    name: str
    table: pd.DataFrame            # cells.csv
    scores: dict                   # cell -> its per-utterance scores (split, metric, input, output)
    metric: str


def gate_claim(claim, d, split: str, training: pd.DataFrame | None):
    """A study page's claim as it stands, or "not valid at this scale" where a system it compares
    (`claim.cells`) is not above its input or its model has not shown that it converged: the same
    checks, and the same words, as the scorecard's findings (gate)."""
    if not getattr(claim, "cells", ()):
        return claim
    checks, models = [], set()
    for cell in dict.fromkeys(claim.cells):
        checks.append(above_input(d, cell, split))
        model = _training_hash(d, cell)
        if model not in models:
            models.add(model)
            checks.append(converged(d, cell, training))
    failed = sorted((c for c in checks if not c.passed), key=lambda c: c.name != "above input")
    if not failed:
        return claim
    why = _why(checks, failed)
    shown = "; ".join(c.text for c in failed[:3]) + (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")
    return replace(claim, verdict=INVALID, tone="invalid",
                   text=f"Not a finding: {why} ({shown}). The comparison would have read "
                        f"\"{claim.verdict}\": {claim.text}")


def _why(checks: list[Check], failed: list[Check]) -> str:
    """'2 of 3 system(s) fail 'above input'; …': each failed kind of check, counted."""
    unit = {"converged": "model(s)"}
    return "; ".join(f"{sum(c.name == k for c in failed)} of {sum(c.name == k for c in checks)} "
                     f"{unit.get(k, 'system(s)')} fail '{k}'" for k in dict.fromkeys(c.name for c in failed))


def _training_hash(d, cell: str) -> str | None:
    rows = d.table[d.table["cell"] == cell]
    return str(rows["training_hash"].iloc[0]) if len(rows) and "training_hash" in rows else None


def _label(d, cell: str) -> str:
    rows = d.table[d.table["cell"] == cell]
    return f"{d.name} {cell}" + (f" [{rows['label'].iloc[0]}]" if len(rows) and "label" in rows else "")


def _signed(mean: float, ci: float, metric: str) -> str:
    return f"{mean:+.3f} ± {ci:.3f}" + (" dB" if metric == "si_sdr" else "")
