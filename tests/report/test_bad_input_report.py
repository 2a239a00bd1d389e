"""`python -m benchmark.report` refuses each bad input before any work (issue 48): a non-zero exit,
one line naming the file and what is wrong, no traceback, and nothing under results/ or reports/
written or changed. Each case starts from a results folder the report builds cleanly, built once."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.report import ReportError, build_report
from benchmark.report.__main__ import main
from benchmark.report.load import load_cells, load_study

from .conftest import STUDY, Dirs

N = 40                                   # utterances per split: small, so each case takes seconds
METRICS = ("pesq_wb", "estoi")


def _scored(root: Path) -> Dirs:
    """The fixture study cut to two metrics, with each system's per-utterance scores written to
    agree with cells.csv (N utterances per split and metric, as the driver writes them)."""
    dirs = Dirs(root)
    table = dirs.table()
    table = table[table["metric"].isin(METRICS)].copy()
    table["n"], table["n_nan"] = str(N), "0"
    dirs.save(table)
    rng = np.random.default_rng(0)
    level = rng.normal(0, 0.3, N)
    outputs = table[(table["which"] == "output") & (table["kind"] != "input")]
    for cell, rows in outputs.groupby("cell"):
        frames = [pd.DataFrame({"split": r.split, "name": [f"u{i}" for i in range(N)], "metric": r.metric,
                                "input": level, "output": level + float(r.mean) + rng.normal(0, 0.05, N)})
                  for r in rows.itertuples()]
        folder = dirs.results / STUDY / "cells" / cell
        folder.mkdir(parents=True)
        pd.concat(frames).to_csv(folder / "per_utterance.csv", index=False)
    return dirs


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A results folder and the reports built from it: what each case spoils one part of."""
    root = tmp_path_factory.mktemp("built")
    build_report(*_scored(root).args())
    return root


@pytest.fixture
def root(built, tmp_path) -> Path:
    shutil.copytree(built, tmp_path / "r", symlinks=True)
    return tmp_path / "r"


def snapshot(root: Path) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(root))] = (body, st.st_mtime_ns, st.st_mode)
    return out


class Run:
    def __init__(self, returncode: int, stderr: str):
        self.returncode, self.stderr = returncode, stderr


def report(root: Path, *extra: str, study: bool = True, results: Path | None = None, capsys=None) -> Run:
    """The front door, in this process (its imports take seconds on a busy machine: paid once),
    or as `python -m benchmark.report` without `capsys`."""
    args = [*([f"study={STUDY}"] if study else []), f"results={results or root / 'results'}",
            f"reports={root / 'reports'}", f"studies={root / 'studies'}", *extra]
    if capsys is None:
        done = subprocess.run([sys.executable, "-m", "benchmark.report", *args], capture_output=True, text=True,
                              cwd=Path(__file__).parents[2])
        return Run(done.returncode, done.stderr)
    capsys.readouterr()
    code = main(args)                    # an uncaught exception fails the test: the user's traceback
    return Run(code, capsys.readouterr().err)


def _cells(root: Path) -> Path:
    return root / "results" / STUDY / "cells.csv"


def _utterances(root: Path) -> Path:
    return sorted((root / "results" / STUDY / "cells").glob("*/per_utterance.csv"))[0]


def _cut(path: Path, keep) -> None:
    path.write_bytes(keep(path.read_bytes()))


def _last_output(path: Path, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].rsplit(",", 1)[0] + "," + text
    path.write_text("\n".join(lines) + "\n")


def _folder_for(path: Path) -> None:
    if path.exists():
        path.unlink()
    path.mkdir(parents=True)


def _file_for(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    path.write_text("not a folder\n")


# (what is spoilt, how, the file the one line must name, a word of what is wrong)
CASES = {
    "per_utterance cut mid-row": (_utterances, lambda p: _cut(p, lambda b: b[:-7]), "per_utterance.csv", "torn"),
    "per_utterance a last row short": (_utterances, lambda p: _cut(p, lambda b: b[:b.rstrip(b"\n").rfind(b",")]
                                                                   + b"\n"), "per_utterance.csv", "field"),
    "per_utterance rows lost whole": (_utterances, lambda p: _cut(p, lambda b: b"".join(
        b.splitlines(keepends=True)[:-5])), "per_utterance.csv", "rows"),
    "per_utterance a score not a number": (_utterances, lambda p: _last_output(p, "1.2x"), "per_utterance.csv",
                                           "number"),
    "per_utterance a folder": (_utterances, _folder_for, "per_utterance.csv", "folder"),
    "cells.csv cut mid-row": (_cells, lambda p: _cut(p, lambda b: b[:-30]), "cells.csv", "torn"),
    "cells.csv a last row short": (_cells, lambda p: _cut(p, lambda b: b[:b.rstrip(b"\n").rfind(b",")] + b"\n"),
                                   "cells.csv", "field"),
    "reports a file": (lambda r: r / "reports", _file_for, "reports", "folder"),
    "the page a folder": (lambda r: r / "reports" / f"{STUDY}.html", _folder_for, f"{STUDY}.html", "folder"),
    "the scorecard a folder": (lambda r: r / "reports" / "index.html", _folder_for, "index.html", "folder"),
    "the exports folder a file": (lambda r: r / "reports" / STUDY, _file_for, STUDY, "folder"),
    "the clips folder a file": (lambda r: r / "reports" / STUDY / "clips", _file_for, "clips", "folder"),
    "an export a folder": (lambda r: r / "reports" / STUDY / "test.tex", _folder_for, "test.tex", "folder"),
    "pairs.csv a folder": (lambda r: r / "results" / STUDY / "pairs.csv", _folder_for, "pairs.csv", "folder"),
    "vs_best.csv a folder": (lambda r: r / "results" / STUDY / "vs_best.csv", _folder_for, "vs_best.csv",
                             "folder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_refused_in_one_line_before_anything_is_written(root, case, capsys):
    where, spoil, named, problem = CASES[case]
    target = where(root)
    spoil(target)
    before = snapshot(root)
    run = report(root, capsys=capsys)
    assert run.returncode != 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and named in last and problem in last.lower(), last
    assert str(target) in last or str(target.relative_to(root)) in last, last
    assert snapshot(root) == before, "the refused run wrote or changed a file"


def test_without_study_every_study_is_checked_before_any_page_is_written(root):
    _cut(_utterances(root), lambda b: b[:-7])
    before = snapshot(root)
    run = report(root, study=False)                     # the command itself, as a user runs it
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert "per_utterance.csv" in run.stderr.strip().splitlines()[-1], run.stderr
    assert snapshot(root) == before


def test_a_results_folder_that_is_not_there_is_refused_not_read_as_no_studies(root, capsys):
    before = snapshot(root)
    run = report(root, study=False, results=root / "nowhere", capsys=capsys)
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode != 0 and str(root / "nowhere") in last and "does not exist" in last, run.stderr
    assert snapshot(root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only folder")
def test_a_read_only_reports_folder_is_refused_before_pairs_csv_is_rewritten(root, capsys):
    (root / "reports").chmod(0o555)
    try:
        before = snapshot(root)
        run = report(root, capsys=capsys)
        assert run.returncode != 0 and "not writable" in run.stderr.strip().splitlines()[-1], run.stderr
        assert snapshot(root) == before
    finally:
        (root / "reports").chmod(0o755)


def test_the_good_folder_still_builds(root, capsys):
    run = report(root, capsys=capsys)
    assert run.returncode == 0, run.stderr


def test_a_short_per_utterance_file_is_named_with_its_counts(tmp_path):
    from benchmark.report.load import check_per_utterance

    dirs = _scored(tmp_path)
    path = _utterances(tmp_path)
    _cut(path, lambda b: b"".join(b.splitlines(keepends=True)[:-5]))
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    table = load_cells(dirs.cells, study)
    with pytest.raises(ReportError, match=rf"{path}: .*{N - 5} rows .* {N}"):
        check_per_utterance(path, table[table["cell"] == path.parent.name])


def test_a_torn_cells_csv_names_its_last_line(tmp_path):
    dirs = _scored(tmp_path)
    _cut(dirs.cells, lambda b: b[:-30])
    lines = dirs.cells.read_text().count("\n") + 1
    with pytest.raises(ReportError, match=rf"{dirs.cells}: line {lines}: torn"):
        load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))
