"""The study driver under kills, failures and concurrent invocations: a killed cell is retried
without limit, a failing one is named with its error, MLflow statuses say what happened, two
invocations at once share one study, and a loop of kill -9 at random moments ends, after one clean
run, with every record whole and nothing twice."""
import json
import os
import random
import signal
import subprocess
import time

import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from benchmark.driver.grid import expand, load_study
from benchmark.driver.queue import enqueue, next_cell, open_study
from tests.driver.test_queue import REPO, _cmd, _run


def _trials(results):
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(results / "smoke" / "optuna.journal")))
    return [t for t in optuna.load_study(study_name="smoke", storage=storage).get_trials() if "cell" in t.user_attrs]


def _runs(results):
    client = MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")
    exp = client.get_experiment_by_name("smoke")
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def test_kills_never_count_against_max_retries_but_errors_do(tiny):
    cells = expand(load_study("smoke"), tiny)
    study = open_study("k", optuna.storages.InMemoryStorage())
    enqueue(study, cells, max_retries=2)
    target = cells[0].hash
    for _ in range(5):                                  # killed five times: FAIL with no error recorded
        trial = next(t for t in iter(lambda: next_cell(study), None) if t.user_attrs["cell"] == target)
        study.tell(trial, state=TrialState.FAIL)
        for t in study.get_trials(states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.PRUNED)
        counts = enqueue(study, cells, max_retries=2)
        assert counts["gave_up"] == []
    for k in range(3):                                  # then three real failures
        trial = next(t for t in iter(lambda: next_cell(study), None) if t.user_attrs["cell"] == target)
        trial.set_user_attr("error", f"ValueError: attempt {k}")
        study.tell(trial, state=TrialState.FAIL)
        for t in study.get_trials(states=(TrialState.RUNNING,)):
            study.tell(t.number, state=TrialState.PRUNED)
        counts = enqueue(study, cells, max_retries=2)
    [gave_up] = counts["gave_up"]
    assert gave_up.cell.hash == target and gave_up.failures == 3 and gave_up.last_error == "ValueError: attempt 2"


def test_a_failing_cell_ends_failed_and_is_named_with_its_error_and_how_to_retry(tmp_path, tiny):
    results = tmp_path / "results"
    broken = ["eval.checkpoint=best", "trainer.val_utterances=0", "--max-retries", "0"]   # no best.pt is written
    first = _run(results, tiny, *broken, check=False)
    assert first.returncode == 1 and "FAILED" in first.stderr
    client, runs = _runs(results)
    status = {r.data.tags["role"]: set() for r in runs}
    for r in runs:
        status[r.data.tags["role"]].add(r.info.status)
    assert status == {"study": {"FAILED"}, "training": {"FINISHED"}, "cell": {"FAILED"}}
    second = _run(results, tiny, *broken, check=False)
    assert second.returncode == 1 and "5 failed too often" in second.stdout
    cell = next(t.user_attrs["cell"] for t in _trials(results))
    assert f"cell {cell} [" in second.stderr and "last error: FileNotFoundError" in second.stderr
    assert "--max-retries 1 to try it again" in second.stderr
    retried = _run(results, tiny, *broken[:2], "--max-retries", "1", check=False)
    assert "5 queued" in retried.stdout


@pytest.mark.slow     # two coordinators racing: also test_two_coordinators_starting_together_enqueue_the_grid_once
def test_two_invocations_started_together_share_one_study(tmp_path, tiny):
    results = tmp_path / "results"
    procs = [subprocess.Popen(_cmd(results, tiny), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
    trials = _trials(results)
    done = [t.user_attrs["cell"] for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == len(set(done)) == 5
    cells = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str})
    assert not cells.duplicated(["cell", "split", "metric", "which"]).any() and cells["cell"].nunique() == 5
    _, runs = _runs(results)
    assert [r.data.tags["role"] for r in runs].count("study") == 1
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert len(json.loads((results / "smoke" / "meta.json").read_text())["runs"]) == 2


def _assert_whole(results):
    trials = _trials(results)
    done = [t.user_attrs["cell"] for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == len(set(done)) == 5, "every cell COMPLETE exactly once"
    cells = pd.read_csv(results / "smoke" / "cells.csv", dtype={"cell": str})
    assert cells["cell"].nunique() == 5 and not cells.duplicated(["cell", "split", "metric", "which"]).any()
    client, runs = _runs(results)
    roles = [r.data.tags["role"] for r in runs]
    assert sorted(roles) == ["cell"] * 5 + ["study"] + ["training"] * 2
    assert {r.info.status for r in runs} == {"FINISHED"}, [(r.info.run_name, r.info.status) for r in runs]
    for r in runs:
        for key in r.data.metrics:
            steps = [m.step for m in client.get_metric_history(r.info.run_id, key)]
            assert len(steps) == len(set(steps)), f"{r.info.run_name}: {key} logged twice at a step"
    for done_json in (results / "models").glob("*/done.json"):
        assert json.loads(done_json.read_text())["steps"] == 12
        assert (done_json.parent / "model.pt").is_file()


def test_kill_9_anywhere_then_one_clean_run_leaves_every_record_whole(tmp_path, tiny):
    rng = random.Random(14)
    results = tmp_path / "results"
    extra = ("trainer.max_steps=12", "trainer.val_every=4")
    kills, began = 0, time.time()
    while kills < 10 and time.time() - began < 240:
        jobs = ("--jobs", "2") if kills % 3 == 2 else ()
        # A session of its own: kill -9 takes the --jobs workers too, as a lost machine would.
        proc = subprocess.Popen(_cmd(results, tiny, *extra, *jobs), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=rng.uniform(2.0, 16.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 5
    final = _run(results, tiny, *extra, check=False)
    assert final.returncode == 0 and "5/5 cells done" in final.stdout, final.stdout + final.stderr
    _assert_whole(results)
    # Then the journal's last record cut mid-line, as a full disk or a copy taken mid-write leaves it:
    # the same command keeps the cut tail aside and resumes from the last whole record.
    journal = results / "smoke" / "optuna.journal"
    data = journal.read_bytes()
    start = data.rindex(b"\n", 0, len(data) - 1) + 1
    cut = start + (len(data) - start) // 2
    journal.write_bytes(data[:cut])
    resumed = _run(results, tiny, *extra, check=False)
    assert resumed.returncode == 0 and "5/5 cells done" in resumed.stdout, resumed.stdout + resumed.stderr
    assert f"{journal}: its last record was cut short" in resumed.stderr
    assert data[start:cut] in [p.read_bytes() for p in journal.parent.glob("optuna.journal.torn-*")]
    _assert_whole(results)


def _children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def _gone(pid):
    try:
        state = [line for line in open(f"/proc/{pid}/status") if line.startswith("State:")][0]
    except (OSError, IndexError):
        return True
    return "Z" in state.split()[1]                       # a zombie is dead, waiting to be reaped


def test_jobs_workers_die_with_their_coordinator(tmp_path, tiny):
    results = tmp_path / "results"
    proc = subprocess.Popen(_cmd(results, tiny, "trainer.max_steps=400", "--jobs", "2"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2:
        # spawn starts a resource tracker too; the workers are the children that import benchmark
        workers = [c for c in _children(proc.pid) if "benchmark" in open(f"/proc/{c}/cmdline").read()
                   or "multiprocessing" in open(f"/proc/{c}/cmdline").read()]
        time.sleep(0.2)
    assert workers, "no worker process started"
    os.kill(proc.pid, signal.SIGKILL)                    # the coordinator alone, as a lost shell would
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and not all(_gone(w) for w in workers):
        time.sleep(0.2)
    assert all(_gone(w) for w in workers), "a worker outlived its coordinator"


def test_jobs_default_is_two_on_a_multi_core_cpu():
    from benchmark.driver.coordinator import auto_jobs

    assert auto_jobs("cpu") == (2 if len(os.sched_getaffinity(0)) >= 2 else 1)


def test_jobs_default_follows_the_training_rates_this_machine_observed(monkeypatch):
    from benchmark.driver.coordinator import auto_jobs

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert auto_jobs("cpu", {2: 1.0}) == 2                  # one way seen: nothing to compare yet
    assert auto_jobs("cpu", {2: 1.0, 1: 2.8}) == 1          # two one-thread jobs: 0.71 steps/s against 1
    assert auto_jobs("cpu", {2: 1.0, 1: 1.6}) == 2          # 1.25 steps/s against 1
