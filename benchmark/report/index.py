"""Write reports/index.html: the scorecard's findings (scorecard.py) and one line per study with results."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmark.config import ConfigError, compose
from benchmark.data import dataset_id
from benchmark.driver import ledger
from benchmark.preflight import PreflightError, readable_dir, writable_dir, writable_file
from benchmark.report import paired_stats, scorecard, tables, validity
from benchmark.report.build import REFERENCES, template, write_page
from benchmark.report.claims import pm as _pm
from benchmark.report.load import ReportError, Study, check_per_utterance, load_cells, load_study


def render(data: dict, studies_dir: Path, reports_dir: Path, results_dir: Path | None = None) -> str:
    known = scorecard.known_studies(studies_dir)
    others = scorecard.findings_by_split(results_dir, studies_dir, known) if results_dir else {}
    pages = {n: f"{n}.html" for n in data if (Path(reports_dir) / f"{n}.html").is_file()}
    found = scorecard.findings(data, known)
    gated = [f for f in found if f.verdict == validity.INVALID]
    return template("index.html.j2").render(
        findings=found, gated=gated, studies=study_lines(data), pages=pages,
        elsewhere=[[(split, f[i]) for split, f in others.items()] for i in range(len(found))],
        not_run=[n for n in known if n not in data], n_studies=len(data), split=scorecard.SPLIT,
        two_sets=[{"cell": r.cell, "metric": tables.metric_name(r.metric), "used": r.used, "why": r.why,
                   # four decimals: the two sets usually differ in the third
                   "means": [(s, f"{v:.4f}") for s, v in sorted(r.means.items())]} for r in scorecard.two_sets(data)],
        rule=paired_stats.RULE, sign_convention=paired_stats.SIGN, references=REFERENCES,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def study_lines(data: dict[str, scorecard.StudyData]) -> list[dict]:
    """Per study: its best diffusion cell, the input, the predictive baseline, cost and provenance."""
    out = []
    for name, d in data.items():
        s, m = d.summary, d.metric
        pick = {k: s[s["kind"] == k].head(1) for k in ("diffusion", "predictive", "input")}
        ref = tables.noisy_reference(d.table, scorecard.SPLIT, m)
        best = pick["diffusion"]
        delta = None if best.empty else validity.above_input(d, best["cell"].iloc[0], scorecard.SPLIT)

        def show(rows):
            return "—" if rows.empty else f"{_pm(rows[m].iloc[0], rows[f'{m}_ci'].iloc[0], m)}"
        meta = d.meta or {}
        out.append({"name": name, "title": d.study.title, "metric": tables.metric_name(m),
                    "best": show(pick["diffusion"]),
                    "best_label": "" if pick["diffusion"].empty else pick["diffusion"]["label"].iloc[0],
                    "input": _pm(ref[0], ref[1], m), "predictive": show(pick["predictive"]),
                    "delta": "" if delta is None else delta.detail,
                    "delta_tone": "" if delta is None else ("good" if delta.passed else "bad"),
                    "cells": int((s["kind"] != "input").sum()),
                    "grid": d.grid, "n_missing": len(d.missing),
                    "wall": (f"{meta['wall_minutes']:.0f} min" if isinstance(meta.get("wall_minutes"), (int, float))
                             else "—"),
                    "commit": str(meta.get("git_commit", "—"))[:12], "device": meta.get("device", "—"),
                    "versions": ", ".join(f"{k} {v}" for k, v in (meta.get("package_versions") or {}).items()
                                          if k in ("torch", "mlflow", "numpy", "pesq")) or "—",
                    "dataset": meta.get("dataset") or _dataset_now(d.study)})
    return out


def _dataset_now(study: Study) -> str:
    """The data's id from the study's settings today, for a meta.json written before it was kept."""
    try:
        base = [str(o) for o in (study.raw or {}).get('base') or []]
        return f"{dataset_id(compose(base).data)} (not recorded by the run; from today's settings)"
    except (ConfigError, ValueError, KeyError):
        return "—"


def preflight(results_dir: Path, reports_dir: Path, studies_dir: Path) -> None:
    """What build_index reads and writes, checked before it writes: scorecard.load_all rewrites
    each study's pairs.csv and vs_best.csv, and pairs each cell's per-utterance scores, its own
    or another study's of the same cell (scorecard.per_utterance_file)."""
    results_dir, reports_dir, studies_dir = map(Path, (results_dir, reports_dir, studies_dir))
    try:
        readable_dir(studies_dir, "studies folder")
        readable_dir(results_dir, "results folder")
        writable_dir(reports_dir, "reports folder")
        writable_file(reports_dir / "index.html", "scorecard page")
        studies = [p for p in sorted(studies_dir.glob("*.y*ml"))
                   if p.stem != "smoke" and (results_dir / p.stem / "cells.csv").is_file()]
        for path in studies:
            for kept in ("pairs.csv", "vs_best.csv"):
                writable_file(results_dir / path.stem / kept, "paired differences")
    except PreflightError as err:        # a ReportError: what the driver's call of build_index handles
        raise ReportError(str(err)) from err
    for path in studies:
        table = load_cells(results_dir / path.stem / "cells.csv", load_study(path))
        for cell, rows in table.groupby("cell", sort=False):
            own = ledger.per_utterance(results_dir / path.stem, str(cell))
            found = own if own.exists() else scorecard.per_utterance_file(results_dir, path.stem, str(cell))
            if found is not None:
                check_per_utterance(found, rows, str(results_dir / path.stem / "cells.csv"))


def build_index(results_dir: Path = Path("results"), reports_dir: Path = Path("reports"),
                studies_dir: Path = Path("studies")) -> Path:
    preflight(results_dir, reports_dir, studies_dir)
    data = scorecard.load_all(Path(results_dir), Path(studies_dir))
    html = render(data, Path(studies_dir), Path(reports_dir), Path(results_dir))
    path = Path(reports_dir) / "index.html"
    write_page(path, html)
    print(f"wrote {path}: {len(data)} stud{'y' if len(data) == 1 else 'ies'} with results",
          file=sys.stderr)
    return path
