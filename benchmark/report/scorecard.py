"""reports/index.html: the paper's five findings, each with a verdict computed from every study that
has results, and one line per study. Built by `python -m benchmark.report` (all studies) and at
the end of every `benchmark.run`.

Each finding names the study that tests it; where that study has no results the verdict is "not
yet run" with the command that would run it. Verdicts are computed on the split `test` (the
matched condition) and each study's primary metric; none quotes a paper number.

    1. drift       sde_ablation: `without` − `with` drift, paired per utterance, per SDE
    2. mismatch    every study whose cells' priors match their marginals differently: a plain start
                   at σ₀ draws x̃ with std σ₀ where the marginal has √(σ₀² + σ_d²), so a lower σ₀
                   means a larger mismatch; a matched start has none (drift_and_prior varies
                   only the start on one model)
    3. spread      the spread (max − min of the axis values' means) over SDEs (sde_ablation) against
                   that over preconditionings and over loss weightings, each with a 95% bootstrap
                   interval over utterances (paired across cells), or from the cells' CIs when the
                   per-utterance scores are not at hand
    4. headline    the recommended setting against SGMSE+ at a quarter of its NFE (headline)
    5. sampler     EDM Heun with churn against the same solver without, and that against PC, at each
                   N (sampler_ablation): the stochasticity injected in the reverse process
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.driver import training_record
from benchmark.report import axis_effects, paired_stats, tables, validity
from benchmark.report.claims import pm as _pm
from benchmark.report.load import ReportError, Study, load_cells, load_meta, load_study
from benchmark.report.priors import cell_config, prior_match, start_levels

SPLIT = "test"
SPLITS = ("test", "test_mismatched", "real")     # each verdict is also read on the other splits
# Which study and axis each finding reads; the axis value that stands for "no drift".
DRIFT = ("sde_ablation", "drift", "without", "with")
HEADLINE = ("headline", "system")
# The sampler finding: at each step count, EDM Heun with S_churn = ∞ against the same solver without
# churn (the stochasticity), and that deterministic Heun against PC (the second-order step).
SAMPLER = ("sampler_ablation", "sampler", "steps", "Heun churn ∞", "Heun", "PC")
NFE_FACTOR = 4          # "reducing the computational cost by a factor of four" (abstract)


@dataclass
class StudyData:
    name: str
    study: Study
    table: pd.DataFrame
    meta: dict
    summary: pd.DataFrame            # the split's cell summary (tables.cell_summary), best first
    metric: str
    pairs: pd.DataFrame | None
    vs_best: pd.DataFrame | None
    scores: dict = field(default_factory=dict, repr=False)   # cell -> per-utterance outputs
    missing: list = field(default_factory=list)              # grid points not run yet (tables.missing_points)
    grid: int = 0                                            # the study's diffusion grid points (tables.grid_points)
    training: pd.DataFrame | None = None                     # training.csv: each model's convergence
    split: str = SPLIT                                       # the split this summary and its outputs are of

    def outputs(self, cell: str) -> pd.Series | None:
        """The cell's per-utterance outputs on the split and the metric, by utterance name."""
        frame = self.scores.get(cell)
        if frame is None:
            return None
        part = frame[(frame["split"] == self.split) & (frame["metric"] == self.metric)]
        return part.set_index("name")["output"] if len(part) else None


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


def load_all(results_dir: Path, studies_dir: Path, split: str = SPLIT) -> dict[str, StudyData]:
    """Every study file under `studies_dir` whose results/<name>/cells.csv exists and holds `split`."""
    out = {}
    for path in sorted(Path(studies_dir).glob("*.y*ml")):
        name = path.stem
        cells = Path(results_dir) / name / "cells.csv"
        if name == "smoke" or not cells.is_file():
            continue
        study = load_study(path)
        table = load_cells(cells, study)
        if split not in set(table["split"]):
            continue
        metrics = tables.report_metrics(table[table["split"] == split], study.primary_metric)
        if not metrics:
            continue
        summary = tables.cell_summary(table, split, list(study.axes), metrics, metrics[0])
        scores = {}
        for cell in summary["cell"]:
            f = per_utterance_file(Path(results_dir), name, cell)
            if f is not None:
                scores[cell] = pd.read_csv(f, usecols=lambda c: c in ("split", "name", "metric", "input", "output"))
        out[name] = StudyData(name, study, table, load_meta(Path(results_dir) / name / "meta.json"),
                              summary, metrics[0], paired_stats.load_or_compute(Path(results_dir) / name, study, table),
                              paired_stats.load_or_compute_best(Path(results_dir) / name, table), scores,
                              tables.missing_points(table, study), len(tables.grid_points(study)),
                              training_record.read(Path(results_dir) / name), split)
    return out


def per_utterance_file(results_dir: Path, study: str, cell: str) -> Path | None:
    """The cell's per-utterance scores: its study's own, else those another study kept for the same
    cell (the hash is the whole configuration, shared_cells.py), never a superseded folder's. So a
    study run before per-utterance files were kept is still compared paired where others hold them."""
    own = results_dir / study / "cells" / cell / "per_utterance.csv"
    if own.is_file():
        return own
    found = [f for f in sorted(results_dir.glob(f"*/cells/{cell}/per_utterance.csv"))
             if ".superseded-" not in f.parts[-4]]
    return found[0] if found else None


def _not_run(number: int, title: str, missing: list[str], what: str) -> Finding:
    commands = "; ".join(f"python -m benchmark.run study={m}" for m in missing)
    return Finding(number, title, "not yet run", "neutral",
                   f"{what} No results for {', '.join(missing)} yet: {commands}.", studies=missing)


def compare(d: StudyData, a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
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


def drift_finding(data: dict[str, StudyData]) -> Finding:
    name, axis, without, with_ = DRIFT
    title = "The drift toward y is not what makes these systems work"
    if name not in data:
        return _not_run(1, title, [name], "Tested by removing the drift (γ = 0) within each SDE.")
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


def mismatch_finding(data: dict[str, StudyData], known: dict[str, Study] | None = None) -> Finding:
    title = "A prior mismatch is not necessarily responsible for a performance drop"
    lines, tested, spared, systems = [], [], [], []
    for name, d in data.items():
        cells = d.summary[d.summary["kind"] == "diffusion"].copy()
        cells["match"] = [prior_match(d.study, {a: r[a] for a in d.study.axes}) for _, r in cells.iterrows()]
        cells = cells[cells["match"].notna() & cells[d.metric].notna()]
        levels = sorted(set(cells["match"].round(3)))
        if len(levels) < 2:
            continue
        tested.append(name)
        small = cells[cells["match"].round(3) == levels[-1]]     # the prior closest to the marginal
        large = cells[cells["match"].round(3) < levels[-1]]
        best_small = small.iloc[0]
        tests = [compare(d, r, best_small) for _, r in large.iterrows()]
        adjusted = paired_stats.holm([p for _, _, p in tests])
        unharmed = [r for (_, r), (diff, ci, _), p in zip(large.iterrows(), tests, adjusted)
                    if not_worse(diff, ci, p)]
        if unharmed:
            spared.append(name)
        top = max(unharmed or [large.iloc[0]], key=lambda r: r[d.metric])
        systems += [(name, best_small["cell"]), (name, top["cell"])]
        lines.append(f"{name}: prior std / marginal std from {levels[0]:.3f} to {levels[-1]:.3f}; the best "
                     f"cell with the least mismatch ({best_small['label']}, {best_small['match']:.3f}) "
                     f"{tables.fmt(best_small[d.metric], d.metric)}; with a larger one "
                     f"({top['label']}, {top['match']:.3f}) {tables.fmt(top[d.metric], d.metric)}"
                     + (" — not worse" if unharmed else " — worse"))
    if not tested:
        waiting = [n for n, st in (known or {}).items() if n not in data and len(start_levels(st)) > 1]
        text = ("In the studies run, every diffusion cell's prior matches its marginal equally well, so the "
                "prior mismatch does not vary and cannot explain a difference.")
        if waiting:
            return _not_run(2, title, waiting, text + " Studies whose cells start at different levels:")
        return Finding(2, title, "not tested", "neutral", text, studies=list(data))
    if spared:
        verdict, tone = "supported", "good"
        text = (f"In {', '.join(spared)}, a cell whose prior is further from the true marginal scores "
                "as well as (not distinguishable from, or above) the best cell with the least mismatch.")
    else:
        verdict, tone = "not supported", "bad"
        text = ("In every study that varies it, the cells with a larger prior mismatch score below the "
                "best cell with the least mismatch, consistent with the mismatch costing quality.")
    text += (" Cells also differ in the SDE or the sampler, so the comparison is not of the mismatch alone"
             " (drift_and_prior's `embedded` and `matched start` cells differ in the start only).")
    return Finding(2, title, verdict, tone, text, lines, tested, systems=systems)


def spread_finding(data: dict[str, StudyData], seed: int = 0) -> Finding:
    title = "The SDE matters more than preconditioning and loss weighting"
    what = ("Compared: the effect of moving each axis alone from SGMSE+'s choice to the recommended one "
            "(axis_effects.py), SDE against preconditioning and loss weighting.")
    missing = [study for _, study, *_ in axis_effects.AXES if study not in data]
    found = {label: (study, axis_effects.axis_effect(data[study], axis, base, rec))
             for label, study, axis, base, rec in axis_effects.AXES if study in data}
    if "SDE" not in found or len(found) < 2:
        return _not_run(3, title, missing, what)
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


def headline_finding(data: dict[str, StudyData]) -> Finding:
    study, axis = HEADLINE
    title = "The recommended setting matches or beats SGMSE+ at a quarter of its NFE"
    if study not in data:
        return _not_run(4, title, [study], "Tested by the recommended setting (NFE 15) against SGMSE+ (NFE 60).")
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


def sampler_finding(data: dict[str, StudyData]) -> Finding:
    study, axis, steps, churned, plain, pc = SAMPLER
    title = ("The stochasticity injected in the reverse process, not the sampler's second-order step, is "
             "what makes the EDM sampler beat predictor-corrector")
    if study not in data:
        return _not_run(5, title, [study], "Tested by EDM Heun with and without churn against PC at each N.")
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


def known_studies(studies_dir: Path) -> dict[str, Study]:
    """Every study file but the smoke test, by name."""
    return {p.stem: load_study(p) for p in sorted(Path(studies_dir).glob("*.y*ml")) if p.stem != "smoke"}


def findings(data: dict[str, StudyData], known: dict[str, Study] | None = None) -> list[Finding]:
    """The five findings; `known`: every study file, so a finding names the unrun studies that test it."""
    found = [drift_finding(data), mismatch_finding(data, known), spread_finding(data), headline_finding(data),
             sampler_finding(data)]
    training = {name: d.training for name, d in data.items()}
    split = next((d.split for d in data.values()), SPLIT)
    return [validity.gate(provisional(f, data), data, split, training, lambda s, c: cell_config(data[s], c))
            for f in found]


def findings_by_split(results_dir: Path, studies_dir: Path, known: dict[str, Study] | None = None,
                      splits=SPLITS[1:]) -> dict[str, list[Finding]]:
    """The same five findings read on each of `splits` (where any study scored it)."""
    out = {}
    for split in splits:
        data = load_all(results_dir, studies_dir, split)
        if data:
            out[split] = findings(data, known)
    return out


def provisional(finding: Finding, data: dict[str, StudyData]) -> Finding:
    """A verdict read from a study whose run has not finished (a reference run is committed part-way
    while it goes on over several sessions) says so: the missing cells may change it."""
    partial = [(s, data[s]) for s in finding.studies if s in data and data[s].missing]
    if not partial or finding.verdict in ("not yet run", "no data"):
        return finding
    counts = "; ".join(f"{name} has {d.grid - len(d.missing)} of {d.grid} grid points" for name, d in partial)
    return replace(finding, verdict=f"{finding.verdict}, provisional",
                   text=f"{finding.text} Provisional: {counts}; the rest may change this verdict.")


__all__ = ["Finding", "findings", "known_studies", "load_all", "ReportError"]
