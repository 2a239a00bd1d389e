"""The study's stores when they are broken or absent (issue 48): a journal cut mid-line or with a
garbage line, a tracking server or a PostgreSQL storage that is not there, an MLflow store that is
not SQLite, unreadable result tables at the end, a temporary store left by a kill. Each stops with
one line naming the file or address (or mends what can be mended, saying so), never a traceback,
and loses nothing: a cut tail is kept aside, the result tables and meta.json stay as they were."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from benchmark import run
from tests.driver.test_queue import REPO

# A finished study as the driver leaves it, without training: its queue filled and told through the
# driver's own queue API by a process that then exits (as a finished run's worker has), its tables
# written as workers append them. A real smoke run costs minutes; these tests need only its stores.
BUILD = """
import sys
from pathlib import Path
import pandas as pd
from benchmark.data import eval_splits
from benchmark.driver import ledger
from benchmark.driver.cell import append_rows, rows_attr
from benchmark.driver.grid import expand, load_study
from benchmark.driver.queue import enqueue, next_cell, open_study, storage_for

out_dir, items = Path(sys.argv[1]), sys.argv[2:]
cells = {c.hash: c for c in expand(load_study("smoke"), items)}
study = open_study("smoke", storage_for(None, out_dir))
enqueue(study, list(cells.values()))
while (trial := next_cell(study)) is not None:
    c = cells[trial.user_attrs["cell"]]
    splits = eval_splits(c.config.data, c.config.eval.splits)
    rows = pd.DataFrame([{"cell": c.hash, "label": c.label, "training_hash": c.training_hash, "split": s,
                          "metric": m, "which": w, "mean": "1.5"}
                         for s in splits for m in ("pesq_wb", "estoi") for w in ("input", "output")])
    by_condition = pd.DataFrame([{"cell": c.hash, "split": s, "condition": "snr_0", "metric": "pesq_wb",
                                  "mean": "1.5"} for s in splits])
    ledger.cell_dir(out_dir, c.hash).mkdir(parents=True, exist_ok=True)
    ledger.per_utterance(out_dir, c.hash).write_text("utterance,pesq_wb\\nu0,1.5\\n")
    append_rows(ledger.conditions_csv(out_dir), by_condition)
    trial.set_user_attr("condition_rows", rows_attr(by_condition))
    append_rows(ledger.cells_csv(out_dir), rows)
    trial.set_user_attr("rows", rows_attr(rows))
    study.tell(trial, 1.5)
"""
ITEMS = ["trainer.max_steps=8", "trainer.val_every=4"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny):
    """A finished smoke study's results folder, to copy: each test breaks its own copy."""
    results = tmp_path_factory.mktemp("finished") / "results"
    subprocess.run([sys.executable, "-c", BUILD, str(results / "smoke"), *tiny, *ITEMS], cwd=REPO, check=True,
                   capture_output=True, timeout=600)
    rc = run.main(["study=smoke", f"--results={results}", f"--reports={results.parent / 'reports'}", "--quiet",
                   "--jobs", "1", "--no-report", *tiny, *ITEMS])
    assert rc == 0
    return results


def _copy(finished, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    return results


def _main(results, tiny, capsys, *extra):
    """benchmark.run in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = run.main(["study=smoke", f"--results={results}", f"--reports={results.parent / 'reports'}", "--quiet",
                   "--jobs", "1", "--no-report", *tiny, *ITEMS, *extra])
    out, err = capsys.readouterr()
    return rc, out, err


def _last_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _closed_port() -> int:
    """A port nothing listens on: bound, then let go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _trials(results):
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(results / "smoke" / "optuna.journal")))
    return [t for t in optuna.load_study(study_name="smoke", storage=storage).get_trials() if "cell" in t.user_attrs]


def _kept(results):
    """What must not change when a run stops: the result tables and meta.json."""
    smoke = results / "smoke"
    return {name: (smoke / name).read_bytes() for name in ("cells.csv", "conditions.csv", "meta.json")
            if (smoke / name).is_file()}


def test_a_journal_cut_mid_line_is_mended_its_tail_kept_and_the_study_resumes(finished, tmp_path, tiny, capsys):
    results = _copy(finished, tmp_path)
    journal = results / "smoke" / "optuna.journal"
    data = journal.read_bytes()
    start = data.rindex(b"\n", 0, len(data) - 1) + 1           # the last line: cut in its middle
    cut = start + (len(data) - start) // 2
    journal.write_bytes(data[:cut])
    cells_before = (results / "smoke" / "cells.csv").read_bytes()
    rc, out, err = _main(results, tiny, capsys)
    assert rc == 0 and "5/5 cells done" in out, out + err
    assert "Traceback" not in err
    torn = results / "smoke" / "optuna.journal.torn-1"
    assert torn.read_bytes() == data[start:cut]                 # nothing lost: the cut tail is kept aside
    said = [line for line in err.splitlines() if str(journal) in line]
    assert len(said) == 1 and str(torn) in said[0], err
    for line in journal.read_bytes().splitlines():             # every line whole from then on
        json.loads(line)
    done = [t.user_attrs["cell"] for t in _trials(results) if t.state == TrialState.COMPLETE]
    assert len(done) == len(set(done)) == 5
    assert (results / "smoke" / "cells.csv").read_bytes() == cells_before
    rc, out, err = _main(results, tiny, capsys)                 # and the next run finds nothing to mend
    assert rc == 0 and "5 done, 0 queued" in out and str(journal) not in err, out + err


def test_a_garbage_line_inside_the_journal_is_refused_with_its_number(finished, tmp_path, tiny, capsys):
    results = _copy(finished, tmp_path)
    journal = results / "smoke" / "optuna.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"\x00\x00\x00 not json"
    journal.write_bytes(b"\n".join(lines))
    before, kept = journal.read_bytes(), _kept(results)
    rc, out, err = _main(results, tiny, capsys)
    assert rc != 0 and "Traceback" not in err, out + err
    last = _last_line(err)
    assert str(journal) in last and "line 3" in last, err
    assert journal.read_bytes() == before and _kept(results) == kept
    assert not list(journal.parent.glob("optuna.journal.torn-*"))


def test_a_tracking_server_that_is_not_there_is_named_before_any_work(tmp_path, tiny, capsys):
    results = tmp_path / "results"
    uri = f"http://127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    rc, out, err = _main(results, tiny, capsys, "--tracking-uri", uri)
    assert time.monotonic() - began < 60                         # not MLflow's two minutes of retries
    assert rc != 0 and "Traceback" not in err, out + err
    assert uri in _last_line(err), err
    assert not (results / "smoke" / "meta.json").exists() and not (results / "models").exists()


def test_a_postgresql_storage_with_no_server_is_named_without_its_password(tmp_path, tiny, capsys):
    pytest.importorskip("psycopg")
    results = tmp_path / "results"
    port = _closed_port()
    rc, out, err = _main(results, tiny, capsys, "--storage", f"postgresql+psycopg://ann:s3cret@127.0.0.1:{port}/study")
    assert rc != 0 and "Traceback" not in err, out + err
    last = _last_line(err)
    assert f"127.0.0.1:{port}/study" in last and "s3cret" not in err, err
    assert not (results / "smoke" / "meta.json").exists() and not (results / "models").exists()


def test_an_mlflow_store_that_is_not_sqlite_is_named_with_what_to_do(tmp_path, tiny, capsys):
    results = tmp_path / "results"
    results.mkdir()
    db = results / "mlflow.db"
    db.write_bytes(b"this is not a database\n" * 64)
    rc, out, err = _main(results, tiny, capsys)
    assert rc != 0 and "Traceback" not in err, out + err
    last = _last_line(err)
    assert str(db) in last and "move it aside" in last, err
    assert db.read_bytes() == b"this is not a database\n" * 64
    assert not (results / "smoke" / "meta.json").exists() and not (results / "models").exists()


@pytest.mark.parametrize("table", ["cells.csv", "conditions.csv"])
def test_an_unreadable_table_at_the_end_is_named_and_the_study_run_is_not_left_running(
        finished, tmp_path, tiny, capsys, table):
    results = _copy(finished, tmp_path)
    path = results / "smoke" / table
    garbage = b"\xff\xfe\x00garbage, not UTF-8 \xc3\x28\n" * 8
    path.write_bytes(garbage)
    rc, out, err = _main(results, tiny, capsys)
    assert rc != 0 and "Traceback" not in err, out + err
    assert str(path) in _last_line(err), err
    assert path.read_bytes() == garbage
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoke")
    [study_run] = client.search_runs([exp.experiment_id], filter_string="tags.role = 'study'")
    assert study_run.info.status == "FAILED"


def test_temporary_mlflow_stores_of_dead_processes_are_removed_at_the_next_start(finished, tmp_path, tiny, capsys):
    results = _copy(finished, tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = [results / f".mlflow.db.{dead}.new", results / f".mlflow.db.{dead}.new-journal"]
    live = results / f".mlflow.db.{os.getppid()}.new"          # another process still making its store
    for p in [*stale, live]:
        p.write_bytes(b"half a store")
    rc, out, err = _main(results, tiny, capsys)
    assert rc == 0, out + err
    assert not any(p.exists() for p in stale) and live.exists()
