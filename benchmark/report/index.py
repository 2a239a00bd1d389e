"""Write reports/index.html, the scorecard over every study with results (scorecard.py)."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmark.report import scorecard
from benchmark.report.build import template, write_page


def render(data: dict, studies_dir: Path, reports_dir: Path) -> str:
    known = scorecard.known_studies(studies_dir)
    pages = {n: f"{n}.html" for n in data if (Path(reports_dir) / f"{n}.html").is_file()}
    return template("index.html.j2").render(
        findings=scorecard.findings(data, known), studies=scorecard.study_lines(data), pages=pages,
        not_run=[n for n in known if n not in data], n_studies=len(data), split=scorecard.SPLIT,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def build_index(results_dir: Path = Path("results"), reports_dir: Path = Path("reports"),
                studies_dir: Path = Path("studies")) -> Path:
    data = scorecard.load_all(Path(results_dir), Path(studies_dir))
    html = render(data, Path(studies_dir), Path(reports_dir))
    path = Path(reports_dir) / "index.html"
    write_page(path, html)
    print(f"wrote {path}: {len(data)} stud{'y' if len(data) == 1 else 'ies'} with results",
          file=sys.stderr)
    return path
