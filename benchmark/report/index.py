"""Write reports/index.html: the scorecard's findings (scorecard.py) and one line per study with results."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmark.config import ConfigError, compose
from benchmark.data import dataset_id
from benchmark.report import scorecard, tables, validity
from benchmark.report.build import template, write_page
from benchmark.report.claims import pm as _pm
from benchmark.report.load import Study


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


def build_index(results_dir: Path = Path("results"), reports_dir: Path = Path("reports"),
                studies_dir: Path = Path("studies")) -> Path:
    data = scorecard.load_all(Path(results_dir), Path(studies_dir))
    html = render(data, Path(studies_dir), Path(reports_dir), Path(results_dir))
    path = Path(reports_dir) / "index.html"
    write_page(path, html)
    print(f"wrote {path}: {len(data)} stud{'y' if len(data) == 1 else 'ies'} with results",
          file=sys.stderr)
    return path
