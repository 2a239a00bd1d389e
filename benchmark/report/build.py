"""Build reports/<study>.html from studies/<study>.yaml and results/<study>/{cells.csv,meta.json},
with paired differences from the cells' per-utterance scores (paired_stats.py).

The page is one file: CSS inline, figures as base64 PNG, no script and no external resource, so
it opens offline and can be mailed or archived as is.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pandas as pd

from benchmark.driver import training_record
from benchmark.preflight import PreflightError, writable_dir, writable_file
from benchmark.report import (
    claims,
    costs,
    diagnosis,
    export,
    figures,
    listening,
    methods,
    opening,
    paired_stats,
    reproduction,
    scorecard,
    tables,
    validity,
)
from benchmark.report import conditions as by_condition
from benchmark.report import rows as page_rows
from benchmark.report.evidence import Evidence
from benchmark.report.load import ReportError, Study, check_scores, data_name, load_cells, load_meta, load_study
from benchmark.report.load import scores as read_scores
from benchmark.report.twins import twins

TEMPLATE = "template.html.j2"
DATA_DESCRIPTIONS = {
    "synthetic": "the embedded synthetic data (espeak-ng speech, procedural noise)",
    "vbdmd": "VoiceBank-DEMAND",
    "folder": "a user-supplied folder of clean/noisy pairs",
}
# Other people's numbers, for scale only (docs/anchors.md A2, A5; docs/design-space.md §8). Never ours, and
# never the paper's own tables, which could not be retrieved. The scorecard shows them once; a study page
# links there instead of repeating them.
REFERENCES = (
    ("VoiceBank-DEMAND noisy test input", "PESQ-WB ≈ 1.97",
     "community reports (gtcrn#70, BSRNN#5)"),
    ("SGMSE+ (Richter et al., TASLP 2023)", "PESQ-WB 2.93 at 60 NFE (PC sampler, N = 30, one "
     "corrector step)", "the SGMSE+ paper, confirmed in sp-uhh/sgmse#13"),
    ("SGMSE+ community reproductions", "PESQ-WB 2.73–2.88", "sp-uhh/sgmse#13, sp-uhh/storm#13"),
)
MISSING_SHOWN = 12
BOLD_TESTED = (f"not distinguishable from the column's best by the paired rule (this cell − the best, Wilcoxon "
               f"signed-rank over utterances, Holm-adjusted over the split's comparisons with the best: "
               f"p ≥ {paired_stats.ALPHA:g})")


def study_file(studies_dir: Path, name: str) -> Path:
    for suffix in (".yaml", ".yml"):
        if (studies_dir / f"{name}{suffix}").is_file():
            return studies_dir / f"{name}{suffix}"
    return studies_dir / f"{name}.yaml"


def _with_display(summary: pd.DataFrame) -> pd.DataFrame:
    """A unique plot label per cell: its label, plus the hash where two labels collide."""
    summary = summary.copy()
    label = summary["label"].where(summary["label"] != "", summary["kind"])
    clash = label.duplicated(keep=False)
    summary["display"] = label.where(~clash, label + " [" + summary["cell"] + "]")
    return summary


def _split_summary(table: pd.DataFrame, split: str, study: Study):
    """(summary, metrics, primary) of one split: what the section and the exports are made of."""
    metrics = tables.report_metrics(table[table["split"] == split], study.primary_metric)
    primary = study.primary_metric if study.primary_metric in metrics else (metrics or [None])[0]
    summary = _with_display(tables.cell_summary(table, split, list(study.axes), metrics, primary or ""))
    return summary, metrics, primary


def _split_section(table: pd.DataFrame, split: str, study: Study,
                   pairs: pd.DataFrame | None = None, export_prefix: str | None = None,
                   cond: pd.DataFrame | None = None, cells_dir: Path | None = None,
                   vs_best: pd.DataFrame | None = None, diagnosed=None,
                   clips_dir: Path | None = None, method_of: dict | None = None,
                   colours: dict | None = None) -> dict:
    """`method_of` (cell → method) and `colours` (method → colour): the page's, one for every split."""
    summary, metrics, primary = _split_summary(table, split, study)
    section = {"split": split, "metrics": [tables.metric_name(m) for m in metrics],
               "exports": ([(ext.upper(), f"{export_prefix}/{split}.{ext}") for ext in ("csv", "tex")]
                           + [("Markdown, every split", f"{export_prefix}/tables.md")]
                           if export_prefix and metrics else []),
               "primary": tables.metric_name(primary) if primary else None,
               "n_cells": int((summary["kind"] != "input").sum()), "figures": [],
               "claims": [], "rows": [], "pivots": [], "paired": [], "references": [],
               "conditions": [], "listening": None, "tested_bold": False, "overview": None,
               "hosts": costs.table_columns(summary)[0], "hosts_text": costs.hosts_text(summary),
               "contended": costs.contended_note(summary, table)}
    if primary is None:
        return section
    section["listening"] = listening.section(cells_dir, summary, split, clips_dir,
                                             f"{export_prefix}/clips", sorted(set(table["split"])),
                                             study.contrast)
    reference = tables.noisy_reference(table, split, primary)
    section["references"] = [(tables.metric_name(m), tables.fmt(tables.noisy_reference(
        table, split, m)[0], m)) for m in metrics]
    bold = page_rows.bold_flags(summary, split, metrics, vs_best)
    section["rows"] = page_rows.main_rows(summary, study, metrics, bold, table)
    section["tested_bold"] = any(paired_stats.tied_with_best(vs_best, split, m) for m in metrics)
    section["pivots"] = page_rows.pivots(summary, study, metrics)
    split_pairs = pairs[pairs["split"] == split] if pairs is not None else None
    section["paired"] = page_rows.paired(split_pairs, study, metrics)
    split_best = vs_best[vs_best["split"] == split] if vs_best is not None else None
    evidence = Evidence(split, split_pairs, split_best, cells_dir)
    section["claims"] = _gated(claims.claim_check(summary, study, reference, primary, split_pairs, evidence),
                               study, table, split, primary, cells_dir)
    if diagnosed is not None:                 # another study's cells that explain one of this one's
        found = diagnosis.drift_diagnosis(diagnosed[1], split, primary, diagnosed[0].name)
        section["claims"] += [found] if found else []
    section["conditions"] = by_condition.section(cond, summary, split, primary, cells_dir)
    section["overview"] = opening.split_row(summary, split, primary, reference)
    method_of = method_of or methods.method_names(table, study)
    colours = colours or methods.colour_map(table, method_of, study)
    section["figures"] = figures.section_figures(summary.assign(method=summary["cell"].map(method_of)), table,
                                                 split, study, metrics, primary, cond, colours)
    return section


def _gated(found: list, study: Study, table: pd.DataFrame, split: str, metric: str,
           cells_dir: Path | None) -> list:
    """The claims with validity's gate applied: a comparison of systems that do not enhance, or whose
    models have not shown that they converged, is not a finding (validity.gate_claim)."""
    results = cells_dir.parent.parent if cells_dir else None
    compared = {c for claim in found for c in claim.cells}
    files = {c: scorecard.per_utterance_file(results, study.name, c) if results else None for c in compared}
    scores = {c: read_scores(f) for c, f in files.items() if f is not None}
    d = validity.PageData(study.name, table, scores, metric)
    training = training_record.read(results / study.name) if results else None
    return [validity.gate_claim(claim, d, split, training) for claim in found]


def _cells_appendix(table: pd.DataFrame) -> list[dict]:
    first = table.drop_duplicates("cell", keep="last")
    columns = ("cell", "training_hash", "kind", "label", "train_steps", "train_minutes",
               "device", "weights", "finished_at")
    rows = []
    for _, row in first.iterrows():
        item = {c: row.get(c, "") for c in columns}
        item["train_steps"] = page_rows.number(item["train_steps"])
        item["train_minutes"] = page_rows.number(item["train_minutes"], 1)
        rows.append({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                     for k, v in item.items()})
    return rows


def render(study: Study, table: pd.DataFrame, meta: dict, source: Path | None = None,
           pairs: pd.DataFrame | None = None, export_prefix: str | None = None,
           cond: pd.DataFrame | None = None, cells_dir: Path | None = None,
           vs_best: pd.DataFrame | None = None, diagnosed=None, clips_dir: Path | None = None,
           reproduced: dict | None = None) -> str:
    """The report's HTML for an already loaded study, table, meta and paired differences;
    `export_prefix`: the folder (relative to the page) holding each split's CSV and LaTeX table;
    `cells_dir`: results/<study>/cells, whose audio examples become the players, written as files
    into `clips_dir` (<export_prefix>/clips beside the page: listening.py); `reproduced`: this run
    against the reference run (reproduction_context), for a user's run's page."""
    data = data_name(study, meta)
    cells = table[table["kind"] != "input"]
    diffusion = table[table["kind"] == "diffusion"]["cell"].nunique()
    finished = sorted(v for v in table.get("finished_at", pd.Series(dtype=str)) if v)
    missing = tables.missing_points(table, study)
    method_of = methods.method_names(table, study)            # one method name and colour per page
    colours = methods.colour_map(table, method_of, study)
    sections = [_split_section(table, s, study, pairs, export_prefix, cond, cells_dir, vs_best, diagnosed,
                               clips_dir, method_of, colours)
                for s in tables.split_order(table)]
    scored = [s for s in sections if s["claims"]]
    context = {
        "study": study, "meta": meta, "data": data,
        "data_description": DATA_DESCRIPTIONS.get(data, f"data set '{data}'"),
        "n_cells": cells["cell"].nunique(), "n_diffusion": diffusion,
        "grid_size": len(tables.grid_points(study)), "missing": missing[:MISSING_SHOWN],
        "n_missing": len(missing),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "last_finished": finished[-1] if finished else None,
        "sections": sections,
        # the first split's claim check (test's, where there is one), in its own words
        "findings": opening.findings(scored[0]["claims"]) if scored else [],
        "findings_split": scored[0]["split"] if scored else None,
        "overview": [s["overview"] for s in sections if s["overview"]],
        "overview_metric": scored[0]["primary"] if scored else None,
        "appendix": _cells_appendix(table),
        "twins": twins(table),
        "source": source,
        "source_sha": (hashlib.sha256(source.read_bytes()).hexdigest()[:12]
                       if source and source.is_file() else None),
        "axes": list(study.axes),
        "bold_tested": BOLD_TESTED, "rule": paired_stats.RULE, "sign_convention": paired_stats.SIGN,
        "ci_mark": paired_stats.CI_MARK,
        "excerpt_s": f"{listening.EXCERPT_S:g}", "mp3_kbps": listening.MP3_KBPS,
        "reproduced": reproduced,
    }
    return template(TEMPLATE).render(**context)


def reproduction_context(study_name: str, results_dir: Path, table: pd.DataFrame,
                         reference_dir: Path | None) -> dict | None:
    """The Reproduction section's content: every cell of this run against the reference's."""
    if reference_dir is None:
        return None
    folder = Path(reference_dir) / study_name
    rows = reproduction.compare(study_name, results_dir / study_name, table, Path(reference_dir))
    cells = reproduction.by_cell(rows) if len(rows) else []
    return {"reference": folder, "has_reference": (folder / "cells.csv").is_file(), "cells": cells,
            "summary": reproduction.summary(cells), "tolerance": reproduction.TOLERANCE,
            "hosts": sorted({c["reference_device"] for c in cells if c["reference_device"]})}


def template(name: str) -> jinja2.Template:
    """One of this folder's page templates (they share style.css through an include)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(name)


def write_page(path: Path, html: str) -> None:
    """Write then rename, so a reader never opens a half-written page while a study is running."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".html.{os.getpid()}.tmp")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)


def preflight(study_name: str, results_dir: Path, reports_dir: Path, studies_dir: Path,
              study_path: Path | None = None) -> tuple[Study, pd.DataFrame]:
    """The study and its table, once every input build_report reads is checked and every path it
    writes is found writable: the first write (pairs.csv) comes long before the page, so a refusal
    found later would leave results/ rewritten and reports/ half built."""
    results_dir, reports_dir, studies_dir = map(Path, (results_dir, reports_dir, studies_dir))
    study = load_study(Path(study_path) if study_path else study_file(studies_dir, study_name))
    folder = results_dir / study_name
    table = load_cells(folder / "cells.csv", study)
    check_scores(folder, table)
    other = (study.raw or {}).get("diagnosis")          # diagnosis.load pairs that study's scores too
    if other and (results_dir / other / "cells.csv").is_file():
        check_scores(results_dir / other, load_cells(results_dir / other / "cells.csv",
                                                     load_study(studies_dir / f"{other}.yaml")))
    try:
        writable_dir(reports_dir, "reports folder")
        exports = writable_dir(reports_dir / study_name, "the report's tables folder")
        clips = writable_dir(exports / "clips", "the report's clips folder")
        files = [(reports_dir / f"{study_name}.html", "report page"), (folder / "pairs.csv", "paired differences"),
                 (folder / "vs_best.csv", "tests against the best"), (exports / "tables.md", "Markdown table")]
        for split in tables.split_order(table):
            writable_dir(clips / split, "the report's clips folder")
            files += [(exports / f"{split}.{ext}", "exported table") for ext in ("csv", "tex")]
            files.append((clips / f"{split}.json", "clips index"))
        for path, what in files:
            writable_file(path, what)
    except PreflightError as err:       # a ReportError: what every caller of build_report handles
        raise ReportError(str(err)) from err
    return study, table


def build_report(study_name: str, results_dir: Path = Path("results"),
                 reports_dir: Path = Path("reports"), studies_dir: Path = Path("studies"),
                 study_path: Path | None = None, reference_dir: Path | None = None) -> Path:
    """Write reports/<study_name>.html from the study file and its results; return its path.

    study_path: the study file itself, when the study was run from a file outside `studies_dir`;
    reference_dir: the committed reference run's results (outputs.REFERENCE_RESULTS) to check this
    run against in a Reproduction section; None for the reference's own pages."""
    results_dir, reports_dir, studies_dir = map(Path, (results_dir, reports_dir, studies_dir))
    study, table = preflight(study_name, results_dir, reports_dir, studies_dir, study_path)
    source = results_dir / study_name / "cells.csv"
    meta = load_meta(results_dir / study_name / "meta.json")
    pairs = paired_stats.load_or_compute(results_dir / study_name, study, table)
    cond = by_condition.load(results_dir / study_name, table["cell"].unique())
    vs_best = paired_stats.load_or_compute_best(results_dir / study_name, table)
    html = render(study, table, meta, source, pairs, export_prefix=study_name, cond=cond,
                  cells_dir=results_dir / study_name / "cells", vs_best=vs_best,
                  diagnosed=diagnosis.load(study, results_dir, studies_dir),
                  clips_dir=reports_dir / study_name / "clips",
                  reproduced=reproduction_context(study_name, results_dir, table, reference_dir))
    reports_dir.mkdir(parents=True, exist_ok=True)
    frames, shown = {}, []
    for split in tables.split_order(table):
        summary, metrics, _ = _split_summary(table, split, study)
        if metrics:
            reference = {m: tables.noisy_reference(table, split, m) for m in metrics}
            tested = any(paired_stats.tied_with_best(vs_best, split, m) for m in metrics)
            frames[split] = export.marked_frame(summary, list(study.axes), metrics, reference,
                                                page_rows.bold_flags(summary, split, metrics, vs_best))
            export.write(frames[split], metrics, reports_dir / study_name, split,
                         caption=f"{study.title}: split {split}, mean ± 95% CI; bold: "
                         + (BOLD_TESTED if tested else "best per column"))
            shown = shown or metrics
    if frames:
        export.write_markdown(frames, shown, reports_dir / study_name, caption=(
            f"{' / '.join(tables.metric_name(m) for m in shown)}: means per split, as in "
            f"`reports/{study_name}.html` (95% CIs and paired tests there); bold as there."))
    path = reports_dir / f"{study_name}.html"
    write_page(path, html)
    clips = sorted((reports_dir / study_name / "clips").glob("*/*.mp3"))
    print(f"wrote {path}: {len(html.encode()) / 1e6:.2f} MB, {len(clips)} audio clip(s) in "
          f"{reports_dir / study_name / 'clips'} ({sum(f.stat().st_size for f in clips) / 1e6:.2f} MB; "
          f"excerpts ≤ {listening.EXCERPT_S:g} s, MP3 {listening.MP3_KBPS} kb/s)", file=sys.stderr)
    return path


__all__ = ["build_report", "render", "ReportError"]
