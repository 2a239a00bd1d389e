"""Where a run writes: a user's runs apart from the committed reference.

The reference run's tables, per-utterance scores and reports are committed (results/ and reports/ at
the checkout's root) so that a user's run can be checked against them (report/reproduction.py).
A user's `python -m benchmark.run` and `python -m benchmark.report` write under runs/, which git
ignores, and never edit the reference: a first command that rewrote results/sde_ablation/cells.csv
while it ran would leave nothing to compare with. The developers' reference runs write there on
purpose, with --reference (run) or reference=true (report).
"""
from __future__ import annotations

import csv
from pathlib import Path

from .preflight import PreflightError

ROOT = Path(__file__).resolve().parents[1]          # the checkout (an installed wheel has no reference)
REFERENCE_RESULTS = ROOT / "results"
REFERENCE_REPORTS = ROOT / "reports"
RUNS = Path("runs")                                 # where the user runs the command
RUNS_REPORTS = RUNS / "reports"


def is_reference(path: Path | str) -> bool:
    """Whether `path` is the committed reference's results or reports folder, or inside one."""
    here = Path(path).expanduser().resolve()
    return any(here == ref or ref in here.parents for ref in (REFERENCE_RESULTS, REFERENCE_REPORTS))


def choose(results: str | Path | None, reports: str | Path | None, reference: bool) -> tuple[Path, Path]:
    """The results and reports folders of a run: the reference with `reference`, else the given
    ones or runs/. Raises PreflightError (one line) for a user's folder that is the reference."""
    if reference:
        if results is not None or reports is not None:
            raise PreflightError("--reference writes the committed reference (results/, reports/): "
                                 "give it without --results and --reports")
        return _from_here(REFERENCE_RESULTS), _from_here(REFERENCE_REPORTS)
    chosen = (Path(results) if results is not None else RUNS, Path(reports) if reports is not None else RUNS_REPORTS)
    for path, option in zip(chosen, ("--results", "--reports")):
        if is_reference(path):
            raise PreflightError(f"{option} {path}: the committed reference run, which a run only reads "
                                 "(to check itself against it); write elsewhere (default runs/), or add "
                                 "--reference for a reference run on purpose")
    return chosen


def _from_here(path: Path) -> Path:
    """`path` relative to the working directory where it lies inside it: a page names its sources by
    the paths it is given, and the committed pages name them from the checkout (results/<study>/…),
    as tests/report/test_committed_rebuild.py rebuilds them, not by one machine's absolute path."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def reference_tables(reference: Path = REFERENCE_RESULTS) -> list[Path]:
    """cells.csv of each current study of the reference run (a superseded folder is no reference)."""
    return [p for p in sorted(Path(reference).glob("*/cells.csv")) if ".superseded-" not in p.parent.name]


def reference_cells(hashes, reference: Path = REFERENCE_RESULTS) -> set[str]:
    """The hashes among `hashes` that a current study of the reference run scored (--dry-run's count;
    report/reproduction.py compares them)."""
    found: set[str] = set()
    for path in reference_tables(reference):
        try:
            with path.open(newline="") as f:
                found |= {row.get("cell") for row in csv.DictReader(f)} & set(hashes)
        except (OSError, csv.Error, UnicodeDecodeError):
            continue                    # a reference table that does not read is no reference
    return found
