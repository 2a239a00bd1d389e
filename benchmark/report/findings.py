"""Four of the scorecard's five findings (scorecard.py), each read from the studies that test it, and
what every finding shares: the Finding record and the paired comparison of two cells. The prior
mismatch (finding 2) is findings_prior.py.

    1. drift       sde_ablation: `without` − `with` drift, paired per utterance, per SDE
    3. spread      each axis' effect, moving it alone from SGMSE+'s choice to the recommended one
                   (axis_effects.py): SDE against preconditioning and loss weighting, each with a 95%
                   bootstrap interval over utterances (paired across cells), or from the cells' CIs
                   when the per-utterance scores are not at hand
    4. headline    the recommended setting against SGMSE+ at a quarter of its NFE (headline)
    5. sampler     EDM Heun with churn against the same solver without, and that against PC, at each
                   N (sampler_ablation): the stochasticity injected in the reverse process

A finding reads `data`: study name -> scorecard.StudyData (its split's cell summary, the cells'
per-utterance outputs, pairs.csv); it is not imported here, so the scorecard can import the findings.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.report import axis_effects, paired_stats, tables
from benchmark.report.claims import pm as _pm

# Which study and axis each finding reads; the axis value that stands for "no drift".
DRIFT = ("sde_ablation", "drift", "without", "with")
HEADLINE = ("headline", "system")
# The sampler finding: at each step count, EDM Heun with S_churn = ∞ against the same solver without
# churn (the stochasticity), and that deterministic Heun against PC (the second-order step).
SAMPLER = ("sampler_ablation", "sampler", "steps", "Heun churn ∞", "Heun", "PC")
NFE_FACTOR = 4          # "reducing the computational cost by a factor of four" (abstract)


@dataclass
class Finding:
    number: int
    title: str
    verdict: str
    tone: str                        # good | bad | neutral
    text: str
    numbers: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)
    systems: list[tuple[str, str]] = field(default_factory=list)     # (study, cell) the verdict compares
    baselines: list[tuple[str, str]] = field(default_factory=list)   # those standing for the paper's SGMSE+
    checks: list = field(default_factory=list)                       # validity.Check, once gated
    # studies shown as context only (different systems, confounded): the verdict does not read them,
    # so neither the gate nor `provisional` looks at them
    context: list[str] = field(default_factory=list)


def not_run(number: int, title: str, missing: list[str], what: str) -> Finding:
    commands = "; ".join(f"python -m benchmark.run study={m}" for m in missing)
    return Finding(number, title, "not yet run", "neutral",
                   f"{what} No results for {', '.join(missing)} yet: {commands}.", studies=missing)


def compare(d, a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
    """(mean, 95% CI, Wilcoxon p) of cell a − cell b on the study's metric: paired per utterance
    where both cells' scores are here, else from their means and CIs (p NaN)."""
    sa, sb = d.outputs(a["cell"]), d.outputs(b["cell"])
    if sa is not None and sb is not None:
        diff = (sa - sb.reindex(sa.index)).dropna().to_numpy(dtype=float)
        mean, ci, _, _ = mean_ci95(diff)
        return mean, ci, paired_stats.wilcoxon_p(diff)
    m = d.metric
    return float(a[m] - b[m]), float(math.hypot(a[f"{m}_ci"], b[f"{m}_ci"])), math.nan


def above(diff: float, ci: float, p: float) -> bool:
    """a − b is significantly above zero by the reports' rule (paired_stats.verdict; `p`: Holm's)."""
    return paired_stats.verdict(diff, ci, p) > 0


def not_worse(diff: float, ci: float, p: float) -> bool:
    """a − b is not significantly below zero by the same rule."""
    return paired_stats.verdict(diff, ci, p) >= 0


def drift_finding(data: dict) -> Finding:
    name, axis, without, with_ = DRIFT
    title = "The drift toward y is not what makes these systems work"
    if name not in data:
        return not_run(1, title, [name], "Tested by removing the drift (γ = 0) within each SDE.")
    d = data[name]
    m = d.metric
    if axis not in d.study.axes:
        return Finding(1, title, "no data", "neutral", f"{name} has no `{axis}` axis to compare.", studies=[name])
    rows = []
    if d.pairs is not None:
        part = d.pairs[(d.pairs["axis"] == axis) & (d.pairs["value"] == without)
                       & (d.pairs["reference"] == with_) & (d.pairs["split"] == d.split) & (d.pairs["metric"] == m)]
        rows = [(r["context"], float(r["mean"]), float(r["ci95"]), float(r["p_holm"])) for _, r in part.iterrows()]
        basis = ("paired per utterance, Wilcoxon p Holm-adjusted" if part["p_holm"].notna().any()
                 else "paired per utterance, 95% CI (the kept pairs.csv predates the p-values)")
    if not rows:                     # no paired scores: per SDE, the two cells' means and CIs
        s = d.summary[d.summary["kind"] == "diffusion"]
        others = [a for a in d.study.axes if a != axis]
        for ctx, group in s.groupby(others) if others else [("", s)]:
            a, b = group[group[axis] == without], group[group[axis] == with_]
            if len(a) and len(b):
                diff = float(a[m].iloc[0] - b[m].iloc[0])
                ci = float(math.hypot(a[f"{m}_ci"].iloc[0], b[f"{m}_ci"].iloc[0]))
                label = " · ".join(f"{o}={v}" for o, v in zip(others, ctx if isinstance(ctx, tuple) else (ctx,)))
                rows.append((label, diff, ci, math.nan))
        basis = "unpaired/CI: the two cells' CIs combined (per-utterance scores not at hand)"
    if not rows:
        return Finding(1, title, "no data", "neutral", f"{name} has no cell pair with and without drift.",
                       studies=[name])
    hurts = [r for r in rows if above(-r[1], r[2], r[3])]
    helps = [r for r in rows if above(r[1], r[2], r[3])]
    numbers = [f"{ctx or 'all'}: Δ {tables.metric_name(m)} (without − with) {_pm(diff, ci, m, True)}"
               + (f", p = {p:.3g}" if math.isfinite(p) else f" ({paired_stats.CI_MARK})") for ctx, diff, ci, p in rows]
    if not hurts:
        verdict, tone = "supported", "good"
        text = (f"Removing the drift lowers {tables.metric_name(m)} significantly in none of the "
                f"{len(rows)} SDE(s) ({len(helps)} improve); {basis}.")
    elif len(hurts) == len(rows):
        verdict, tone = "not supported", "bad"
        text = f"Removing the drift lowers {tables.metric_name(m)} significantly in every SDE; {basis}."
    else:
        verdict, tone = "mixed", "neutral"
        text = (f"Removing the drift lowers {tables.metric_name(m)} significantly in {len(hurts)} of "
                f"{len(rows)} SDE(s) and not in the others; {basis}.")
    compared = d.summary[(d.summary["kind"] == "diffusion") & d.summary[axis].isin([without, with_])]
    return Finding(1, title, verdict, tone, text, numbers, [name],
                   systems=[(name, c) for c in compared["cell"]])


def spread_finding(data: dict, seed: int = 0) -> Finding:
    title = "The SDE matters more than preconditioning and loss weighting"
    what = ("Compared: the effect of moving each axis alone from SGMSE+'s choice to the recommended one "
            "(axis_effects.py), SDE against preconditioning and loss weighting.")
    missing = [study for _, study, *_ in axis_effects.AXES if study not in data]
    found = {label: (study, axis_effects.axis_effect(data[study], axis, base, rec))
             for label, study, axis, base, rec in axis_effects.AXES if study in data}
    if "SDE" not in found or len(found) < 2:
        return not_run(3, title, missing, what)
    metric = data[axis_effects.AXES[0][1]].metric
    effects = {label: e for label, (_, e) in found.items() if e}
    if "SDE" not in effects or len(effects) < 2:
        return Finding(3, title, "no data", "neutral", "Too few cells with results to measure an axis' effect.",
                       [], [v[0] for v in found.values()])
    draws, basis = axis_effects.effect_draws(effects, np.random.default_rng(seed))

    def f(v):
        return tables.fmt(v, metric)
    numbers = [f"{label} ({found[label][0]}: {e['base']} → {e['rec']}, {e['pairs']} pair(s)): "
               f"Δ {f(e['effect'])} [{f(axis_effects.interval(draws[label])[0])}, "
               f"{f(axis_effects.interval(draws[label])[1])}], {e['basis']}" for label, e in effects.items()]
    rivals = {}
    for label in effects:
        if label != "SDE":
            gap = np.abs(draws["SDE"]) - np.abs(draws[label])
            rivals[label] = axis_effects.interval(gap)
            gap_mean = abs(effects["SDE"]["effect"]) - abs(effects[label]["effect"])
            numbers.append(f"|Δ SDE| − |Δ {label}| = {f(gap_mean)} [{f(rivals[label][0])}, {f(rivals[label][1])}], "
                           f"{basis}")
    steps = {tuple(e["steps"]) for e in effects.values()}
    caveat = ("" if len(steps) == 1
              else f" The studies trained for different steps ({sorted(steps)}): compare with care.")
    above = [r for r, (lo, _) in rivals.items() if lo > 0]
    below = [r for r, (_, hi) in rivals.items() if hi < 0]
    name = tables.metric_name(metric)
    if below:
        verdict, tone = "not supported", "bad"
        text = (f"Moving {' or '.join(below)} alone from SGMSE+'s choice to the recommended one changes {name} "
                f"more than moving the SDE does, beyond the interval{'s' if len(below) > 1 else ''}.")
    elif len(above) == len(rivals) and not missing:
        verdict, tone = "supported", "good"
        text = (f"Moving the SDE from SGMSE+'s to the recommended one changes {name} more than moving "
                f"{' or '.join(above)} does, beyond the intervals.")
    elif above and len(above) == len(rivals):
        verdict, tone = "partly tested", "neutral"
        text = (f"The SDE's effect exceeds that of {' and '.join(above)}; "
                f"{', '.join(missing)} not yet run (python -m benchmark.run study={missing[0]}).")
    else:
        verdict, tone = "not resolved", "neutral"
        text = f"The intervals of |Δ SDE| − |Δ other axis| on {name} include zero: these data do not rank them."
    systems = [(found[label][0], c) for label, e in effects.items() for c in e["cells"]]
    return Finding(3, title, verdict, tone, text + caveat, numbers, [v[0] for v in found.values()],
                   systems=systems)


def headline_finding(data: dict) -> Finding:
    study, axis = HEADLINE
    title = "The recommended setting matches or beats SGMSE+ at a quarter of its NFE"
    if study not in data:
        return not_run(4, title, [study], "Tested by the recommended setting (NFE 15) against SGMSE+ (NFE 60).")
    d = data[study]
    cells = d.summary[d.summary["kind"] == "diffusion"]
    if axis not in cells:
        return Finding(4, title, "no data", "neutral", f"{study} has no `{axis}` axis.", studies=[study])
    sgmse = cells[cells[axis].str.contains("SGMSE", case=False)]
    ours = cells[~cells[axis].str.contains("SGMSE", case=False)]
    if sgmse.empty or ours.empty:
        return Finding(4, title, "no data", "neutral", "Both systems need results.", studies=[study])
    a, b = ours.iloc[0], sgmse.iloc[0]
    m, name = d.metric, tables.metric_name(d.metric)
    ratio = float(b["nfe"]) / float(a["nfe"]) if a["nfe"] else math.nan
    diff, ci, p = compare(d, a, b)
    level = not_worse(diff, ci, p)
    basis = ("paired per utterance, Wilcoxon" if math.isfinite(p)
             else "unpaired/CI: the two cells' CIs combined (per-utterance scores not at hand)")
    numbers = [f"{a['label']}: {name} {_pm(a[m], a[f'{m}_ci'], m)} at NFE {a['nfe']:.0f}",
               f"{b['label']}: {name} {_pm(b[m], b[f'{m}_ci'], m)} at NFE {b['nfe']:.0f}",
               f"Δ {_pm(diff, ci, m, True)}" + (f", p = {p:.3g}" if math.isfinite(p) else ""),
               f"NFE ratio {ratio:.1f}"]
    cheap = math.isfinite(ratio) and ratio >= NFE_FACTOR - 1e-9
    if level and cheap:
        verdict, tone = "supported", "good"
        text = f"The recommended setting matches or beats SGMSE+ on {name} with {ratio:.1f}× fewer NFE ({basis})."
    elif not level:
        verdict, tone = "not supported", "bad"
        text = f"The recommended setting is below SGMSE+ on {name} ({basis})."
    else:
        verdict, tone = "not supported", "bad"
        text = (f"The recommended setting matches SGMSE+ on {name}, but with {ratio:.1f}× fewer NFE, "
                f"not {NFE_FACTOR}× ({basis}).")
    return Finding(4, title, verdict, tone, text, numbers, [study],
                   systems=[(study, a["cell"]), (study, b["cell"])], baselines=[(study, b["cell"])])


def sampler_finding(data: dict) -> Finding:
    study, axis, steps, churned, plain, pc = SAMPLER
    title = ("The stochasticity injected in the reverse process, not the sampler's second-order step, is "
             "what makes the EDM sampler beat predictor-corrector")
    if study not in data:
        return not_run(5, title, [study], "Tested by EDM Heun with and without churn against PC at each N.")
    d = data[study]
    cells = d.summary[d.summary["kind"] == "diffusion"]
    if axis not in cells or steps not in cells:
        return Finding(5, title, "no data", "neutral", f"{study} has no `{axis}` × `{steps}` grid.", studies=[study])
    rows, systems = [], []
    for n, group in cells.groupby(steps, sort=False):
        pick = {v: group[group[axis] == v] for v in (churned, plain, pc)}
        if any(p.empty for p in pick.values()):
            continue
        a, b, c = (pick[v].iloc[0] for v in (churned, plain, pc))
        rows.append((n, compare(d, a, b), compare(d, b, c)))
        systems += [(study, a["cell"]), (study, b["cell"]), (study, c["cell"])]
    if not rows:
        return Finding(5, title, "no data", "neutral", "No step count has all three samplers.", studies=[study])
    adjusted = paired_stats.holm([r[1][2] for r in rows] + [r[2][2] for r in rows])
    churn_p, order_p = adjusted[:len(rows)], adjusted[len(rows):]
    churn_wins = [r[0] for r, p in zip(rows, churn_p) if above(r[1][0], r[1][1], p)]
    order_wins = [r[0] for r, p in zip(rows, order_p) if above(r[2][0], r[2][1], p)]
    m, name = d.metric, tables.metric_name(d.metric)
    numbers = [f"N = {n}: churn ∞ − none {_pm(ch[0], ch[1], m, True)}, p = {cp:.3g}; "
               f"Heun − PC {_pm(od[0], od[1], m, True)}, p = {op:.3g}"
               for (n, ch, od), cp, op in zip(rows, churn_p, order_p)]
    if len(churn_wins) == len(rows) and len(order_wins) < len(rows):
        verdict, tone = "supported", "good"
        text = (f"Churn raises {name} significantly at every N ({len(rows)}); the deterministic second-order "
                f"step beats PC at {len(order_wins)} of {len(rows)}.")
    elif not churn_wins:
        verdict, tone = "not supported", "bad"
        text = f"Churn raises {name} significantly at none of the {len(rows)} step counts."
    else:
        verdict, tone = "mixed", "neutral"
        text = (f"Churn raises {name} significantly at {len(churn_wins)} of {len(rows)} step counts; the "
                f"deterministic second-order step beats PC at {len(order_wins)}.")
    text += " Paired per utterance, Wilcoxon p Holm-adjusted over the finding's comparisons; one trained model."
    return Finding(5, title, verdict, tone, text, numbers, [study], systems=systems)


