"""The committed reference reports rebuild from the committed results, byte for byte apart from the
build time: a rerun of `python -m benchmark.report` on a clean checkout changes
nothing a reader sees. Built into a scratch copy of the tracked files, so the checkout is untouched."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.report.build import build_report
from benchmark.report.index import build_index

ROOT = Path(__file__).resolve().parents[2]
BUILT = re.compile(r"built \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def tracked(*paths: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=ROOT, check=True,
                         capture_output=True).stdout.decode()
    return [Path(p) for p in out.split("\0") if p]


def committed_studies() -> list[str]:
    tables = set(tracked("results/*/cells.csv"))
    return sorted(p.stem for p in tracked("reports/*.html")
                  if Path("results", p.stem, "cells.csv") in tables)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """The tracked studies/, results/ and reports/ copied out; the committed pages kept aside."""
    root = tmp_path_factory.mktemp("checkout")
    for rel in tracked("studies", "results", "reports"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, root / rel)
    return root


def unbuilt(html: str) -> str:
    return BUILT.sub("built <time>", html)


def test_there_are_committed_reports_to_rebuild():
    assert {"sde_ablation", "headline"} <= set(committed_studies())


@pytest.mark.parametrize("study", committed_studies())
def test_a_committed_report_rebuilds_from_the_committed_results(scratch, study, monkeypatch):
    monkeypatch.chdir(scratch)             # the page names its sources by the paths it was given
    page = build_report(study, Path("results"), Path("reports"), Path("studies"))
    assert unbuilt(page.read_text(encoding="utf-8")) == unbuilt(
        (ROOT / "reports" / f"{study}.html").read_text(encoding="utf-8")), (
        f"reports/{study}.html differs from a rebuild from results/{study}: rerun "
        f"`python -m benchmark.report study={study} reference=true` and commit both")
    for rel in tracked(f"reports/{study}"):
        assert (scratch / rel).read_bytes() == (ROOT / rel).read_bytes(), f"{rel} differs from a rebuild"


def test_the_committed_scorecard_rebuilds_from_the_committed_results(scratch, monkeypatch):
    monkeypatch.chdir(scratch)
    page = build_index(Path("results"), Path("reports"), Path("studies"))
    assert unbuilt(page.read_text(encoding="utf-8")) == unbuilt(
        (ROOT / "reports" / "index.html").read_text(encoding="utf-8"))
