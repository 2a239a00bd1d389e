"""MLflow records that stay right under retries and kills: idempotent metrics and curves, runs of
dead processes ended KILLED, a fresh SQLite store that a kill cannot leave half-made."""
import os
import subprocess
import sys

from benchmark.driver.tracking import Tracker, _create_sqlite_store


def _tracker(tmp_path, name="t"):
    return Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", name, tmp_path / "art")


def test_logging_the_same_cell_metrics_twice_keeps_one_point(tmp_path):
    t = _tracker(tmp_path)
    run = t.get_or_create_run("cell x", {"cell": "x", "role": "cell"})
    t.log_metrics(run, {"test.pesq_wb.output": 1.5, "test.rtf": 0.1})
    t.log_metrics(run, {"test.pesq_wb.output": 1.5, "test.rtf": 0.2, "test.estoi.output": 0.7})  # a retry
    history = {k: t.client.get_metric_history(run, k) for k in ("test.pesq_wb.output", "test.rtf", "test.estoi.output")}
    assert {k: len(v) for k, v in history.items()} == {"test.pesq_wb.output": 1, "test.rtf": 1, "test.estoi.output": 1}
    t.log_metrics(run, {"cells_done": 1}, step=1, once=False)
    t.log_metrics(run, {"cells_done": 3}, step=2, once=False)
    assert [m.value for m in t.client.get_metric_history(run, "cells_done")] == [1, 3]


def test_a_resumed_curve_is_not_logged_twice(tmp_path):
    t = _tracker(tmp_path)
    run = t.get_or_create_run("train", {"training_hash": "h", "role": "training"})
    log = t.curve_logger(run)
    for step in range(1, 6):
        log({"train_loss": 1.0 / step}, step)
    log({}, 5, flush=True)
    resumed = t.curve_logger(run)                        # a new process resumes from step 3
    for step in range(3, 9):
        resumed({"train_loss": 1.0 / step}, step)
    resumed({}, 8, flush=True)
    assert [m.step for m in t.client.get_metric_history(run, "train_loss")] == list(range(1, 9))


def test_runs_of_dead_processes_end_killed_and_a_retry_reopens_them(tmp_path):
    t = _tracker(tmp_path)
    mine = t.get_or_create_run("mine", {"cell": "a", "role": "cell"})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = t.get_or_create_run("orphan", {"cell": "b", "role": "cell"})
    t.set_tags(orphan, {"owner_pid": dead.stdout.strip()})    # owned by a process that is gone
    assert t.close_orphans() == [orphan]
    assert t.client.get_run(orphan).info.status == "KILLED"
    assert t.client.get_run(mine).info.status == "RUNNING"
    again = t.get_or_create_run("orphan", {"cell": "b", "role": "cell"})     # the cell's retry
    run = t.client.get_run(again)
    assert again == orphan and run.info.status == "RUNNING" and run.data.tags["owner_pid"] == str(os.getpid())


def test_a_fresh_sqlite_store_appears_whole_or_not_at_all(tmp_path):
    db = tmp_path / "sub" / "mlflow.db"
    _create_sqlite_store(f"sqlite:///{db}")
    assert db.is_file() and [p.name for p in db.parent.iterdir()] == ["mlflow.db"]
    before = db.stat().st_mtime_ns
    _create_sqlite_store(f"sqlite:///{db}")              # an existing store is left alone
    assert db.stat().st_mtime_ns == before
    assert Tracker(f"sqlite:///{db}", "e").experiment_id


def test_experiments_open_on_their_runs_and_mlflow_info_lines_stay_off_the_console(tmp_path):
    from mlflow.tracking import MlflowClient
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = f"from benchmark.driver.tracking import Tracker; Tracker({uri!r}, 'fresh', None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert "INFO" not in out.stderr and "Creating initial" not in out.stderr, out.stderr
    client = MlflowClient(tracking_uri=uri)
    assert client.get_experiment_by_name("fresh").tags["mlflow.experimentKind"] == "custom_model_development"
    old = client.create_experiment("made before the tag")       # an older store's experiment
    Tracker(uri, "made before the tag")
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"
