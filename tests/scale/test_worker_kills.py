"""kill -9 across workers on PostgreSQL and an MLflow server, as machines lost mid-cell: one worker
killed while it trains a model, another while it evaluates a cell. The worker left finishes both
once their heartbeats have been silent for the grace period (short here): every cell COMPLETE
once, no row twice, each model trained once, the half-trained one resumed from its checkpoint.
Every process has a results folder of its own (machines sharing no disk) and one --models."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pandas as pd
import sqlalchemy
import torch

from benchmark.driver.claims import TABLE, DbClaims
from tests.scale.conftest import REPO, fresh_db, set_up

GRACE = 4
STEPS, EVERY = 60, 5


def _start(results, tiny, storage, tracking, models, *extra):
    cmd = [sys.executable, "-m", "benchmark.run", "study=smoke", f"--results={results}", "--no-report", "--quiet",
           "--jobs", "1", f"--storage={storage}", f"--tracking-uri={tracking}", f"--models={models}",
           f"--grace={GRACE}", *tiny, f"trainer.max_steps={STEPS}", f"trainer.checkpoint_every={EVERY}",
           f"trainer.log_every={EVERY}", "trainer.val_every=0", "trainer.threads=1", *extra]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc.lines = []
    threading.Thread(target=lambda: proc.lines.extend(proc.stdout), daemon=True).start()
    return proc


def _logged_step(folder):
    try:
        return json.loads((folder / "train_log.jsonl").read_text().splitlines()[-1])["step"]
    except (OSError, IndexError, ValueError):
        return 0


def test_workers_killed_mid_training_and_mid_evaluation_are_taken_over(servers, tmp_path, tiny):
    storage, tracking = fresh_db(servers[0], "kills"), servers[1]
    models = tmp_path / "models"
    coordinator = _start(tmp_path / "machine-0", tiny, storage, tracking, models)
    procs = [coordinator]
    try:
        deadline = time.monotonic() + 300
        study = set_up(storage, coordinator, lambda: "".join(coordinator.lines))
        procs += [_start(tmp_path / f"machine-{i}", tiny, storage, tracking, models, "--worker") for i in (1, 2)]
        claims = DbClaims(sqlalchemy.create_engine(storage), GRACE)      # the claims table, whoever makes it first
        _kill_a_trainer_and_an_evaluator_then_check(study, procs, {p.pid: p for p in procs}, claims, models,
                                                     deadline, tracking, tmp_path)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _running_under(study, pid):
    return {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if t.user_attrs.get("pid") == pid}


def _kill_a_trainer_and_an_evaluator_then_check(study, procs, by_pid, claims, models, deadline, tracking,
                                                 tmp_path):
    engine = claims.engine
    trainer = evaluator = None                     # (pid, training hash, checkpoint step) / (pid, cell)
    cut_short = set()                              # trial numbers running in a process when it was killed
    while trainer is None or evaluator is None:
        assert time.monotonic() < deadline, "\n----\n".join("".join(p.lines) for p in procs)
        if trainer is None:
            with engine.connect() as conn:
                training = conn.execute(sqlalchemy.text(f"SELECT training_hash, pid FROM {TABLE} "
                                                        "WHERE done_dir IS NULL")).all()
            for thash, pid in training:
                folder = models / thash
                mine = evaluator is None or thash != evaluator[2]
                if mine and pid in by_pid and not (folder / "done.json").exists() and _logged_step(folder) >= 3 * EVERY:
                    os.kill(pid, signal.SIGKILL)
                    by_pid.pop(pid).wait()
                    trainer = (pid, thash, torch.load(folder / "last.pt", weights_only=True)["step"])
                    cut_short |= _running_under(study, pid)
                    break
        if evaluator is None:
            # Mid-evaluation means after the model's claim was released as done (done_dir): done.json is
            # written while the claim is still held, and a worker killed in between leaves a claim that
            # the next one takes over (counted in takeovers) only to find the model done.
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                pid, thash = t.user_attrs.get("pid"), t.user_attrs["training_hash"]
                if (pid in by_pid and (trainer is None or thash != trainer[1])
                        and (claims.holder_of(thash) or {}).get("done_dir")):
                    os.kill(pid, signal.SIGKILL)
                    by_pid.pop(pid).wait()
                    [now] = [x for x in study.get_trials(deepcopy=False) if x.number == t.number]
                    assert now.state.name == "RUNNING", "the evaluator was killed after its cell was done"
                    evaluator = (pid, t.user_attrs["cell"], thash)
                    cut_short |= _running_under(study, pid)
                    break
        time.sleep(0.1)
    assert trainer[2] >= 2 * EVERY                 # killed with a checkpoint past the first, before done.json
    [survivor] = by_pid.values()
    assert survivor.wait(timeout=900) == 0, "".join(survivor.lines)
    out = "".join(survivor.lines)

    trials = [t for t in study.get_trials() if "cell" in t.user_attrs]
    done = [t.user_attrs["cell"] for t in trials if t.state.name == "COMPLETE"]
    assert len(done) == len(set(done)) == 5                                 # nothing lost, nothing twice
    # A killed process may have finished cells before it was killed: those stay COMPLETE; the ones it
    # was running end FAIL (taken over), with no error recorded against them.
    killed = [t for t in trials if t.number in cut_short]
    assert killed and {t.state.name for t in killed} == {"FAIL"} and not any("error" in t.user_attrs for t in killed)
    earlier = [t for t in trials if t.user_attrs.get("pid") in (trainer[0], evaluator[0]) and t.number not in cut_short]
    assert {t.state.name for t in earlier} <= {"COMPLETE"}
    assert evaluator[1] in done and out.count("stopped beating (or lost its model's claim); queued again") == 2
    results = survivor.args[4].split("=", 1)[1]
    cells = pd.read_csv(os.path.join(results, "smoke", "cells.csv"), dtype={"cell": str})
    assert sorted(cells["cell"].unique()) == sorted(done)
    assert not cells.duplicated(["cell", "split", "metric", "which"]).any()

    trained = {p.parent.name: json.loads(p.read_text()) for p in models.glob("*/done.json")}
    assert len(trained) == 2 and {i["steps"] for i in trained.values()} == {STEPS}
    resumed = trained.pop(trainer[1])["resumed_from"]
    assert resumed == trainer[2]                   # from the killed worker's last checkpoint, not step 0
    assert [i["resumed_from"] for i in trained.values()] == [0]
    host = os.uname().nodename
    assert f"took over the claim of {host}:{trainer[0]}" in out
    assert f"model {trainer[1]}: resumed from the checkpoint at step {resumed}" in out
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(f"SELECT training_hash, takeovers, done_dir FROM {TABLE}")).all()
    assert {r[0]: r[1] for r in rows} == {trainer[1]: 1, next(iter(trained)): 0}
    assert all(r[2] for r in rows)
    assert not any((tmp_path / f"machine-{i}" / "models").exists() for i in range(3))

    import mlflow
    client = mlflow.MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("smoke").experiment_id], max_results=1000)
    roles = sorted(r.data.tags["role"] for r in runs)
    assert roles == ["cell"] * 5 + ["study"] + ["training"] * 2
    assert {r.info.status for r in runs} == {"FINISHED"}, [(r.info.run_name, r.info.status) for r in runs]
    for r in runs:
        if r.data.tags["role"] == "training":
            steps = [m.step for m in client.get_metric_history(r.info.run_id, "train_loss")]
            assert len(steps) == len(set(steps)) and max(steps) == STEPS
