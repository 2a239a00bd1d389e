"""Scale-out: wall-clock of a sampling-only grid with 1 and with 2 worker processes sharing one
study on PostgreSQL and one MLflow server (scripts/test-services.sh, 127.0.0.1), one run each.

    python perf/scale_workers.py [--cells 8] [--utterances 16] [--steps 16] [--grace 180]

The grid: --cells diffusion cells that differ in the sampler's churn only, so all reuse one model,
trained beforehand (as are the test data and the price's unit costs); each worker process gets
one torch thread and one scoring process (one core each on 2 cores). Targets: speed-up ≥ 1.8 for
2 workers, and the shared stores' cost per cell (Optuna storage, training claims, MLflow calls on
the worker's main thread, between claiming a cell and telling its result) under 2% of a cell's
time. Each worker process runs benchmark.run.main in-process with those calls timed (--child);
the heartbeat threads' time is shown beside it, off the critical path. The stores' cost is a
fixed few hundred ms a cell (a dozen MLflow calls, most of them the cell's artifact uploads), so
its share falls as cells grow: a cell of the real test split takes minutes.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# --child: one worker process, its calls to the shared stores timed.

class Clock:
    """Seconds spent in wrapped calls, by kind, outermost call only (a claim's SQL inside an
    Optuna call counts once), split into in-cell (between next_cell and tell) and setup."""

    def __init__(self):
        self.spent = defaultdict(float)
        self.calls = defaultdict(int)
        self.local = threading.local()
        self.cell_began = None
        self.cells = []

    def wrap(self, owner, name, kind):
        fn = owner.__dict__[name]

        def timed(*a, **k):
            if getattr(self.local, "busy", False):
                return fn(*a, **k)
            self.local.busy = True
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.local.busy = False
                main = threading.current_thread() is threading.main_thread()
                where = ("cell " if self.cell_began is not None else "setup ") + kind if main else "heartbeat"
                self.spent[where] += time.perf_counter() - t0
                self.calls[where] += 1
        setattr(owner, name, timed)


def child(out: Path, argv: list[str]) -> int:
    import optuna

    import benchmark.driver.worker as worker
    from benchmark.driver.claims import DbClaims
    from benchmark.driver.tracking import Tracker
    from benchmark.run import main

    clock = Clock()
    for cls in (optuna.storages.RDBStorage, optuna.storages._CachedStorage):
        for name, fn in list(vars(cls).items()):
            if callable(fn) and not name.startswith("__") and not isinstance(fn, (staticmethod, classmethod)):
                clock.wrap(cls, name, "optuna")
    clock.wrap(DbClaims, "_sql", "claims")
    for name in ("find_run", "get_or_create_run", "log_params", "status", "reopen", "close_orphans",
                 "log_metrics", "set_tags", "log_artifact", "finish"):
        clock.wrap(Tracker, name, "mlflow")
    next_cell, tell = worker.next_cell, optuna.study.Study.tell

    def timed_next(*a, **k):
        trial = next_cell(*a, **k)
        if trial is not None:
            clock.cell_began = time.perf_counter()
        return trial

    def timed_tell(self, *a, **k):
        try:
            return tell(self, *a, **k)
        finally:
            if clock.cell_began is not None and threading.current_thread() is threading.main_thread():
                clock.cells.append(time.perf_counter() - clock.cell_began)
                clock.cell_began = None
    worker.next_cell = timed_next
    optuna.study.Study.tell = timed_tell
    rc = main(argv)
    out.write_text(json.dumps({"rc": rc, "cells": clock.cells, "spent": clock.spent, "calls": clock.calls}))
    return rc


# ---------------------------------------------------------------------------------------------
# The driver.

def study_file(folder: Path, cells: int, utterances: int, steps: int) -> Path:
    churn = "\n".join(f"    c{i}: [sampler.churn={0.05 * i:.2f}]" for i in range(cells))
    path = folder / "scale_perf.yaml"
    path.write_text(f"""name: scale_perf
title: Scale-out timing grid
claim: None; a timing grid.
baselines: false
base: [net=tiny, trainer=smoke, data.sizes.train=12, data.sizes.valid=2, data.sizes.test={utterances},
       "data.seconds=[1.5,2.5]", "eval.splits=[test]", "eval.metrics=[pesq_wb,estoi,si_sdr]", eval.examples=1,
       eval.jobs=1, trainer.threads=1, sampler=edm, sampler.steps={steps}]
axes:
  churn:
{churn}
""")
    return path


def prepare(study: Path, models: Path, costs_dir: Path, data_cache: Path) -> int:
    """The model, the test data and the unit costs, so the timed runs only sample and score."""
    from benchmark.data import load_split
    from benchmark.driver.cell import ensure_model
    from benchmark.driver.grid import expand, load_study
    from benchmark.driver.price import estimate

    cells = expand(load_study(str(study)), [f"data.cache_dir={data_cache}"])
    ensure_model(cells[0].config, models, progress=False)
    load_split(cells[0].config.data, "test")
    estimate(cells, costs_dir, costs_dir / "scale_perf", 1)
    return len(cells)


def timed_run(n: int, study: Path, storage: str, tracking: str, models: Path, work: Path, data_cache: Path,
              grace: float, n_cells: int) -> tuple[float, list[dict]]:
    import optuna

    results = work / f"results{n}"
    results.mkdir()
    shutil.copy(work / "prep" / "costs.json", results / "costs.json")
    args = [f"study={study}", f"--results={results}", "--no-report", "--quiet", "--jobs", "1",
            f"--storage={storage}", f"--tracking-uri={tracking}", f"--models={models}", f"--grace={grace}",
            f"data.cache_dir={data_cache}"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}   # this checkout's benchmark

    def start(i, *extra):
        return subprocess.Popen([sys.executable, __file__, "--child", str(work / f"w{n}.{i}.json"), "--", *args,
                                 *extra], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    began = time.perf_counter()
    procs = [start(0)]
    while n > 1:                         # the workers join once the coordinator has queued the grid
        try:
            s = optuna.load_study(study_name="scale_perf", storage=storage)
            if s.user_attrs.get("mlflow_parent") and len(s.get_trials(deepcopy=False)) >= n_cells:
                break
        except KeyError:
            pass
        if procs[0].poll() is not None:
            raise SystemExit(procs[0].stderr.read())
        time.sleep(0.2)
    procs += [start(i, "--worker") for i in range(1, n)]
    for p in procs:
        err = p.communicate()[1]
        if p.returncode:
            raise SystemExit(f"a worker failed ({p.returncode}):\n{err[-3000:]}")
    wall = time.perf_counter() - began
    done = [t for t in optuna.load_study(study_name="scale_perf", storage=storage).get_trials()
            if t.state.name == "COMPLETE"]
    assert len(done) == n_cells, f"{len(done)} of {n_cells} cells COMPLETE"
    return wall, [json.loads((work / f"w{n}.{i}.json").read_text()) for i in range(n)]


def report(n: int, wall: float, stats: list[dict]) -> float:
    cells = [c for s in stats for c in s["cells"]]
    spent, calls = defaultdict(float), defaultdict(int)
    for s in stats:
        for k, v in s["spent"].items():
            spent[k] += v
            calls[k] += s["calls"][k]
    cell_s = sum(cells)
    in_cell = sum(v for k, v in spent.items() if k.startswith("cell "))
    share = in_cell / cell_s
    print(f"{n} worker(s): wall {wall:6.1f} s, {len(cells)} cells of {cell_s / len(cells):5.2f} s mean "
          f"(per process: {', '.join(str(len(s['cells'])) for s in stats)})")
    for kind in ("optuna", "claims", "mlflow"):
        k = f"cell {kind}"
        print(f"    per cell, {kind:7s} {1000 * spent[k] / len(cells):7.1f} ms in {calls[k] / len(cells):5.1f} calls")
    print(f"    per cell, shared stores in all: {1000 * in_cell / len(cells):.1f} ms = {100 * share:.2f}% of a cell "
          f"(target < 2%)")
    print(f"    heartbeat threads: {1000 * spent['heartbeat'] / len(cells):.1f} ms per cell in "
          f"{calls['heartbeat'] / len(cells):.1f} calls, off the main thread")
    setup = sum(v for k, v in spent.items() if k.startswith("setup "))
    print(f"    per process outside cells (open, enqueue, sync the tables, end): {setup / len(stats):.2f} s")
    return share


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(Path(sys.argv[2]), sys.argv[4:]))
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--utterances", type=int, default=16)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--grace", type=float, default=180.0)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="scale-perf-") as tmp:
        work = Path(tmp)
        services = work / "services"
        started = subprocess.run(["bash", str(REPO / "scripts" / "test-services.sh"), "start", str(services),
                                  sys.executable], capture_output=True, text=True)
        if started.returncode:
            raise SystemExit(f"could not start PostgreSQL and MLflow: {started.stderr}")
        try:
            base, tracking = started.stdout.split()
            import psycopg
            with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
                for n in (1, 2):
                    conn.execute(f"CREATE DATABASE perf{n}")
            study = study_file(work, a.cells, a.utterances, a.steps)
            models, data_cache = work / "models", work / "data"
            n_cells = prepare(study, models, work / "prep", data_cache)
            load = os.getloadavg()[0]
            print(f"{n_cells} cells (edm, {a.steps} steps, {a.utterances} test utterances each), one model trained "
                  f"beforehand; PostgreSQL and MLflow server on 127.0.0.1; {os.cpu_count()} cores, load "
                  f"{load:.1f} before")
            walls = {}
            for n in (1, 2):
                walls[n], stats = timed_run(n, study, base.rsplit("/", 1)[0] + f"/perf{n}", tracking, models, work,
                                            data_cache, a.grace, n_cells)
                report(n, walls[n], stats)
            print(f"speed-up with 2 workers: {walls[1] / walls[2]:.2f}x (target >= 1.8); load average "
                  f"{os.getloadavg()[0]:.1f} after (on a shared machine the figures are indicative)")
        finally:
            subprocess.run(["bash", str(REPO / "scripts" / "test-services.sh"), "stop", str(services)],
                           capture_output=True)


if __name__ == "__main__":
    main()
