"""The commit a run records: `-dirty` when the code differs from HEAD, not when the run's own
committed outputs do (a reference run goes on over several sessions, rewriting its results)."""
import subprocess

from benchmark.provenance import _git_commit


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_the_runs_own_outputs_do_not_make_the_code_dirty(tmp_path):
    for path in ("benchmark/cell.py", "studies/a.yaml", "results/a/cells.csv", "reports/a.html"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("one\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert _git_commit(tmp_path) == head

    (tmp_path / "results/a/cells.csv").write_text("two\n")     # a run appends its rows
    (tmp_path / "reports/a.html").unlink()                       # and rewrites its report
    assert _git_commit(tmp_path) == head

    for code in ("studies/a.yaml", "benchmark/cell.py"):
        (tmp_path / code).write_text("changed\n")
        assert _git_commit(tmp_path) == head + "-dirty"
        git(tmp_path, "checkout", "--", code)
    assert _git_commit(tmp_path) == head


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert _git_commit(tmp_path) == "unknown"
