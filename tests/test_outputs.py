"""A user's run writes under runs/ and never into the committed reference (issue 47)."""
from pathlib import Path

import pytest

from benchmark import outputs, run
from benchmark.preflight import PreflightError
from benchmark.report.__main__ import main as report_main

ROOT = Path(__file__).resolve().parents[1]


def test_a_run_writes_under_runs_unless_told_otherwise(tmp_path):
    assert outputs.choose(None, None, False) == (Path("runs"), Path("runs/reports"))
    assert outputs.choose(tmp_path / "r", tmp_path / "p", False) == (tmp_path / "r", tmp_path / "p")
    assert [p.resolve() for p in outputs.choose(None, None, True)] == [ROOT / "results", ROOT / "reports"]


@pytest.mark.parametrize("results, reports", [
    (ROOT / "results", None), (None, ROOT / "reports"), (ROOT / "results" / "sde_ablation", None),
    ("results", None)])      # relative to the checkout, where the tests run
def test_the_reference_is_refused_as_a_users_output(results, reports, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(PreflightError, match="committed reference"):
        outputs.choose(results, reports, False)


def test_reference_runs_are_written_only_on_purpose_and_never_elsewhere(tmp_path):
    with pytest.raises(PreflightError, match="without --results"):
        outputs.choose(tmp_path, None, True)
    assert not outputs.is_reference(tmp_path / "results")
    assert outputs.is_reference(ROOT / "reports" / "index.html")


def test_the_front_doors_refuse_the_reference_in_one_line_before_any_work(capsys):
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "results" / "headline").iterdir() if p.is_file()}
    assert run.main(["study=smoke", "--results", str(ROOT / "results"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--results" in err and "--reference" in err
    assert report_main([f"reports={ROOT / 'reports'}"]) == 2
    assert "committed reference" in capsys.readouterr().err
    assert report_main(["reference=maybe"]) == 2
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "results" / "headline").iterdir() if p.is_file()} == before
