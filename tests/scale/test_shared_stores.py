"""Several workers share one study on PostgreSQL and one MLflow tracking server, as on several
machines (here all on this one, the servers on 127.0.0.1, started by scripts/test-services.sh and
stopped after): each cell COMPLETE once, each model trained once, no duplicate row in cells.csv,
every run on the server nested under the one study run; and the stores that cannot be shared
are refused with what to use."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.scale.conftest import fresh_db as _fresh_db
from tests.scale.conftest import set_up

REPO = Path(__file__).resolve().parents[2]


def _cmd(results, tiny, storage, tracking, *extra):
    return [sys.executable, "-m", "benchmark.run", "study=smoke", f"--results={results}", "--no-report",
            "--quiet", "--jobs", "1", f"--storage={storage}", f"--tracking-uri={tracking}", *tiny,
            "trainer.max_steps=8", "trainer.val_every=4", "trainer.threads=1", *extra]


def _workers(n, results, tiny, storage, tracking):
    """The coordinator sets the study up (and works), then n − 1 --worker processes join at once."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    first = subprocess.Popen(_cmd(results, tiny, storage, tracking), cwd=REPO, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs = [first]
    set_up(storage, first, lambda: first.stdout.read())
    procs += [subprocess.Popen(_cmd(results, tiny, storage, tracking, "--worker"), cwd=REPO, env=env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
              for _ in range(n - 1)]
    outs = [p.communicate(timeout=1200)[0] for p in procs]
    return [p.returncode for p in procs], outs


# Four workers (three beside the coordinator) are the case that races; two add a minute, little else.
@pytest.mark.parametrize("n", [pytest.param(2, marks=pytest.mark.slow), 4])
def test_workers_share_one_study_on_postgresql_and_an_mlflow_server(servers, tmp_path, tiny, n):
    import mlflow
    import optuna

    storage = _fresh_db(servers[0], f"study{n}")
    tracking = servers[1]
    results = tmp_path / "results"
    codes, outs = _workers(n, results, tiny, storage, tracking)
    assert codes == [0] * n, "\n----\n".join(outs)
    trials = [t for t in optuna.load_study(study_name="smoke", storage=storage).get_trials() if "cell" in t.user_attrs]
    done = [t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == 5 and len(set(done)) == 5                           # each cell once
    cells = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str})
    assert not cells.duplicated(["cell", "split", "metric", "which"]).any()
    assert sorted(cells["cell"].unique()) == sorted(done)
    trained = [json.loads(p.read_text()) for p in (results / "models").glob("*/done.json")]
    assert len(trained) == 2                                                # two models, each once
    client = mlflow.MlflowClient(tracking)
    experiment = client.get_experiment_by_name("smoke")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_role = {}
    for r in runs:
        by_role.setdefault(r.data.tags.get("role"), []).append(r)
    assert len(by_role["study"]) == 1 and len(by_role["training"]) == 2 and len(by_role["cell"]) == 5
    parent = by_role["study"][0].info.run_id
    training = {r.info.run_id for r in by_role["training"]}
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in by_role["training"])
    assert all(r.data.tags["mlflow.parentRunId"] in training for r in by_role["cell"])
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert by_role["study"][0].info.status == "FINISHED"
    dry = subprocess.run(_cmd(results, tiny, storage, tracking, "--dry-run"), cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert dry.returncode == 0 and "queue: 5 done" in dry.stdout, dry.stdout + dry.stderr
    # another machine, its own results folder, nothing left to run: its tables come whole from the queue
    elsewhere = tmp_path / "elsewhere"
    again = subprocess.run(_cmd(elsewhere, tiny, storage, tracking), cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0 and "5/5 cells done" in again.stdout, again.stdout + again.stderr
    key = ["cell", "split", "metric", "which"]
    for name in ("cells.csv", "conditions.csv"):
        mine, theirs = (pd.read_csv(r / "smoke" / name, dtype={"cell": str}) for r in (results, elsewhere))
        assert len(mine) == len(theirs) and not theirs.duplicated([*key, *(["condition", "value"] if
                                                                        "condition" in theirs else [])]).any()
        pd.testing.assert_frame_equal(mine.sort_values(list(mine.columns[:8])).reset_index(drop=True),
                                      theirs.sort_values(list(mine.columns[:8])).reset_index(drop=True),
                                      check_like=True)
    assert not (elsewhere / "models").exists()                 # nothing was trained there


def test_two_coordinators_starting_together_enqueue_the_grid_once(servers, tmp_path, tiny):
    """Two machines each start the study as its coordinator at the same instant, each with its own
    --results and one --models: the grid is queued once, one study run, each cell done once."""
    import mlflow
    import optuna

    storage, tracking = _fresh_db(servers[0], "twoheads"), servers[1]
    models = tmp_path / "models"
    procs = [subprocess.Popen(_cmd(tmp_path / f"machine-{i}", tiny, storage, tracking, f"--models={models}"),
                              cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}) for i in range(2)]
    outs = [p.communicate(timeout=1200)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(outs)
    queued = sorted(int(re.search(r"(\d+) queued", o).group(1)) for o in outs)
    assert queued == [0, 5], outs                         # the second found the grid queued
    trials = [t for t in optuna.load_study(study_name="smoke", storage=storage).get_trials() if "cell" in t.user_attrs]
    done = [t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == len(set(done)) == 5
    client = mlflow.MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("smoke").experiment_id], max_results=1000)
    assert sorted(r.data.tags["role"] for r in runs) == ["cell"] * 5 + ["study"] + ["training"] * 2
    assert len(list(models.glob("*/done.json"))) == 2


def test_dry_run_on_a_shared_storage_shows_the_queue(servers, tmp_path, tiny):
    import optuna

    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.queue import enqueue, next_cell

    storage = _fresh_db(servers[0], "dry")
    cells = expand(load_study("smoke"), [*tiny, "trainer.max_steps=8", "trainer.val_every=4", "trainer.threads=1"])
    study = optuna.create_study(study_name="smoke", storage=storage, direction="maximize")
    enqueue(study, cells)
    claimed = next_cell(study)                          # one cell running here, as a worker would
    out = subprocess.run(_cmd(tmp_path / "results", tiny, storage, servers[1], "--dry-run"), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "queue: 1 running, 4 pending" in out.stdout
    assert f"running on {claimed.user_attrs['host']}:{claimed.user_attrs['pid']}" in out.stdout


def test_stores_that_cannot_be_shared_are_refused_with_what_to_use(tmp_path, tiny):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "benchmark.run", "study=smoke", f"--results={tmp_path}",
                               *tiny, *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
    sqlite = run("--jobs", "2", f"--storage=sqlite:///{tmp_path / 'o.db'}")
    assert sqlite.returncode == 2 and "SQLite is not safe for more than one process" in sqlite.stderr
    journal = run("--worker")
    assert journal.returncode == 2 and "--storage postgresql://" in journal.stderr
    assert not (tmp_path / "smoke").exists()                 # refused before anything was made


def test_a_worker_needs_a_coordinator_first(servers, tmp_path, tiny):
    storage = _fresh_db(servers[0], "lonely")
    out = subprocess.run(_cmd(tmp_path / "results", tiny, storage, servers[1], "--worker"), cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 3 and "run the same command once without --worker" in out.stderr


def test_a_missing_database_driver_names_the_package(tmp_path, monkeypatch):
    import optuna

    from benchmark.config import ConfigError
    from benchmark.driver.queue import storage_for

    def no_driver(*a, **k):
        raise ImportError("Failed to import DB access module for the corresponding SQL dialect")
    monkeypatch.setattr(optuna.storages, "RDBStorage", no_driver)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[scale\]'"):
        storage_for("postgresql://u@db.example/x", tmp_path)
