"""reports/index.html: the paper's five findings, each with a verdict computed from every study that
has results, and one line per study. Built by `python -m benchmark.report` (all studies) and at
the end of every `benchmark.run`.

Each finding names the study that tests it; where that study has no results the verdict is "not
yet run" with the command that would run it. Verdicts are computed on the split `test` (the
matched condition) and each study's primary metric; none quotes a paper number. The findings
themselves are findings.py (drift, spread, headline, sampler) and findings_prior.py (the prior
mismatch); this module loads what they read and gates what they say (validity.py).

    1. drift       sde_ablation: `without` − `with` drift, paired per utterance, per SDE
    2. mismatch    drift_and_prior: the same model from the plain start (a prior mismatch) against the
                   matched start (none), per model/SDE context; cells of different systems that start
                   further from their marginal shown as context, confounded
    3. spread      each axis' effect from SGMSE+'s choice to the recommended one: SDE against
                   preconditioning and loss weighting (axis_effects.py)
    4. headline    the recommended setting against SGMSE+ at a quarter of its NFE (headline)
    5. sampler     EDM Heun with churn against the same solver without, and that against PC, at each
                   N (sampler_ablation): the stochasticity injected in the reverse process

One set of scores per cell hash. A cell's hash is its whole configuration, so studies share cells
(shared_cells.py); but a study that trained its models again on another host scores the same hash
differently. The scorecard then uses one study's scores of that cell everywhere it appears (its
mean, its per-utterance outputs, the paired tests that involve it; `owner` says which and why) and
the index lists each such hash with both means (`two_sets`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.driver import ledger, training_record
from benchmark.report import paired_stats, tables, validity
from benchmark.report.findings import Finding, drift_finding, headline_finding, sampler_finding, spread_finding
from benchmark.report.findings_prior import mismatch_finding
from benchmark.report.load import ReportError, Study, load_cells, load_meta, load_study
from benchmark.report.load import scores as read_scores
from benchmark.report.priors import cell_config

SPLIT = "test"
SPLITS = ("test", "test_mismatched", "real")     # each verdict is also read on the other splits
SCORES = ("mean", "ci95", "n", "n_nan", "n_floored")   # the columns of cells.csv that are the cell's scores
SAME = 1e-9              # two means closer than this are one set of scores (a shared cell's copy)
LATE = "9999"            # no time recorded: after every recorded one


@dataclass(frozen=True)
class TwoSets:
    """A cell hash that two or more studies scored differently; the scorecard uses `used`'s scores."""
    cell: str
    metric: str
    means: dict          # study -> its mean of the cell on the split and `metric`
    used: str
    why: str


@dataclass
class StudyData:
    name: str
    study: Study
    table: pd.DataFrame              # cells.csv, each shared cell's scores its owner's (one_set)
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
    two_sets: dict = field(default_factory=dict)             # cell -> TwoSets, its cells another study scored otherwise

    def outputs(self, cell: str) -> pd.Series | None:
        """The cell's per-utterance outputs on the split and the metric, by utterance name."""
        frame = self.scores.get(cell)
        if frame is None:
            return None
        part = frame[(frame["split"] == self.split) & (frame["metric"] == self.metric)]
        return part.set_index("name")["output"] if len(part) else None



def load_all(results_dir: Path, studies_dir: Path, split: str = SPLIT) -> dict[str, StudyData]:
    """Every study file under `studies_dir` whose results/<name>/cells.csv exists and holds `split`,
    each shared cell with one set of scores (`owner`)."""
    results_dir = Path(results_dir)
    found = {}
    for path in sorted(Path(studies_dir).glob("*.y*ml")):
        cells = results_dir / path.stem / "cells.csv"
        if path.stem != "smoke" and cells.is_file():
            study = load_study(path)
            found[path.stem] = (study, load_cells(cells, study), load_meta(results_dir / path.stem / "meta.json"))
    owners, records = owner(results_dir, {n: (t, m) for n, (_, t, m) in found.items()}, split,
                            {n: s.primary_metric for n, (s, _, _) in found.items()})
    out = {}
    for name, (study, own, meta) in found.items():
        table = one_set(own, name, owners, {n: t for n, (_, t, _) in found.items()})
        if split not in set(table["split"]):
            continue
        metrics = tables.report_metrics(table[table["split"] == split], study.primary_metric)
        if not metrics:
            continue
        summary = tables.cell_summary(table, split, list(study.axes), metrics, metrics[0])
        scores = {}
        for cell in summary["cell"]:
            f = per_utterance_file(results_dir, owners.get(cell, name), cell)
            if f is not None:
                scores[cell] = read_scores(f)
        # pairs.csv is the study's own record (its page reads it too): kept as it is on disk, and
        # re-paired here only where the scorecard uses another study's scores of a cell
        d = StudyData(name, study, table, meta, summary, metrics[0],
                      paired_stats.load_or_compute(results_dir / name, study, own),
                      paired_stats.load_or_compute_best(results_dir / name, own), scores,
                      tables.missing_points(table, study), len(tables.grid_points(study)),
                      training_record.read(results_dir / name), split,
                      {c: r for c, r in records.items() if r.used != name and name in r.means})
        out[name] = replace(d, pairs=repaired(d))
    return out


def owner(results_dir: Path, studies: dict[str, tuple[pd.DataFrame, dict]], split: str,
          primary: dict[str, str]) -> tuple[dict[str, str], dict[str, TwoSets]]:
    """For each cell hash that more than one study's cells.csv holds (`studies`: name -> (table,
    meta)), the study whose scores of it the scorecard uses; and a TwoSets for each hash whose
    scores on `split` differ between them.

    The rule: first, a study that keeps the cell's per-utterance scores, since only those can be
    paired, and the cell's mean and its paired tests then come from the same outputs (a study
    without them would show its own mean beside differences paired on another study's outputs);
    then the one that scored the cell first (its cells.csv `finished_at`, else its meta.json's
    `started_at`): the origin, which a later study re-scored with its model retrained or its
    samples redrawn on another host. The rule does not look at the scores, so it cannot pick the
    set that flatters a finding, and it is the same on every split."""
    holders: dict[str, list[str]] = {}
    for name, (table, _) in studies.items():
        for cell in dict.fromkeys(table["cell"]):
            holders.setdefault(str(cell), []).append(name)
    owners, records = {}, {}
    for cell, names in holders.items():
        if len(names) < 2:
            continue
        kept = {n: ledger.per_utterance(results_dir / n, cell).is_file() for n in names}

        def first(n):
            rows = studies[n][0][studies[n][0]["cell"] == cell]
            done = str(rows["finished_at"].iloc[-1]) if "finished_at" in rows and len(rows) else ""
            return done or str(studies[n][1].get("started_at") or "") or LATE
        used = min(names, key=lambda n: (not kept[n], first(n), n))
        owners[cell] = used
        metric = primary.get(used, "")
        means = {n: _mean(studies[n][0], cell, split, metric) for n in names}
        seen = [v for v in means.values() if v is not None]
        if len(seen) > 1 and max(seen) - min(seen) > SAME:
            others = [n for n in names if n != used]
            if kept[used] and not any(kept[n] for n in others):
                why = (f"only {used} keeps the cell's per-utterance scores, so its mean and its paired tests "
                       "come from the same outputs")
            elif all(first(n) == first(used) for n in others):
                why = f"no study scored it before the others (finished_at), so {used}, the first by name"
            else:
                why = f"{used} scored it first ({first(used)}); {', '.join(others)} scored it again later"
            records[cell] = TwoSets(cell, metric, {n: v for n, v in means.items() if v is not None}, used, why)
    return owners, records


def _mean(table: pd.DataFrame, cell: str, split: str, metric: str) -> float | None:
    rows = table[(table["cell"] == cell) & (table["split"] == split) & (table["metric"] == metric)
                 & (table["which"] == "output")]
    return float(rows["mean"].iloc[-1]) if len(rows) and pd.notna(rows["mean"].iloc[-1]) else None


def one_set(table: pd.DataFrame, name: str, owners: dict[str, str],
            all_tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """`name`'s cells.csv with each shared cell's scores (SCORES) replaced by its owner's, row by
    row (split, metric, which); the labels, axes and timing stay the study's own."""
    out, key = table.copy(), ["split", "metric", "which"]
    for cell, used in owners.items():
        mine = out.index[out["cell"] == cell]
        if used == name or not len(mine):
            continue
        theirs = all_tables[used]
        theirs = theirs[theirs["cell"] == cell].drop_duplicates(key, keep="last").set_index(key)
        keys = list(zip(*(out.loc[mine, k] for k in key)))
        for column in SCORES:
            if column in out and column in theirs:
                out.loc[mine, column] = [theirs[column].get(k, out.at[i, column]) for i, k in zip(mine, keys)]
    return out


def repaired(d: StudyData) -> pd.DataFrame | None:
    """The study's pairs.csv, its rows of the split and metric that involve a cell scored with another
    study's set (d.two_sets) redone on that set: paired where both cells' outputs are at hand, else
    from their means and CIs (no p: the CI decides); Holm's adjustment redone over that family."""
    if d.pairs is None or not d.two_sets:
        return d.pairs
    pairs = d.pairs.copy()
    family = (pairs["split"] == d.split) & (pairs["metric"] == d.metric)
    touched = family & (pairs["cell"].isin(d.two_sets) | pairs["reference_cell"].isin(d.two_sets))
    if not touched.any():
        return d.pairs
    means = d.summary.set_index("cell")
    for i in pairs.index[touched]:
        if not {pairs.at[i, "cell"], pairs.at[i, "reference_cell"]} <= set(means.index):
            continue                 # a kept comparison of a cell this split no longer has: as kept
        a, b = d.outputs(pairs.at[i, "cell"]), d.outputs(pairs.at[i, "reference_cell"])
        if a is not None and b is not None:
            diff = (a - b.reindex(a.index)).dropna().to_numpy(dtype=float)
            mean, ci, n, _ = mean_ci95(diff)
            p = paired_stats.wilcoxon_p(diff)
        else:
            ra, rb = means.loc[pairs.at[i, "cell"]], means.loc[pairs.at[i, "reference_cell"]]
            mean, n, p = ra[d.metric] - rb[d.metric], pairs.at[i, "n"], float("nan")
            ci = float((ra[f"{d.metric}_ci"] ** 2 + rb[f"{d.metric}_ci"] ** 2) ** 0.5)
        pairs.loc[i, ["mean", "ci95", "n", "p_wilcoxon"]] = [mean, ci, n, p]
    pairs.loc[family, "p_holm"] = paired_stats.holm(pairs.loc[family, "p_wilcoxon"])
    return pairs


def two_sets(data: dict[str, StudyData]) -> list[TwoSets]:
    """Every cell hash scored differently by two studies, once each (the index's note)."""
    return list({r.cell: r for d in data.values() for r in d.two_sets.values()}.values())


def per_utterance_file(results_dir: Path, study: str, cell: str) -> Path | None:
    """The cell's per-utterance scores: `study`'s own (load_all passes the cell's owner), else those
    another study kept for the same cell (the hash is the whole configuration, shared_cells.py), never
    a superseded folder's. So a study run before per-utterance files were kept is still compared
    paired where others hold them."""
    own = ledger.per_utterance(results_dir / study, cell)
    if own.is_file():
        return own
    found = [f for f in sorted(results_dir.glob(f"*/cells/{cell}/{ledger.PER_UTTERANCE}"))
             if ".superseded-" not in f.parts[-4]]
    return found[0] if found else None


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


__all__ = ["Finding", "ReportError", "TwoSets", "findings", "known_studies", "load_all", "two_sets"]
