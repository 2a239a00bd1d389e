"""The study coordinator: compose a study's cells, price them (--dry-run), set up the stores and the
queue, start the workers, watch them, and build the report. `python -m benchmark.run` (run.py) parses
the command line and calls run_study."""
from __future__ import annotations

import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .. import outputs
from ..config import ConfigError, to_dict
from ..data import dataset_id
from ..durable import locked
from ..preflight import PreflightError
from ..provenance import device_name, provenance
from ..runtime import select_device
from ..store import folder_of, steps_trained
from . import ledger, shared_cells
from .cell import sync_tables
from .claims import serialized
from .done import done_hashes, model_trained
from .grid import expand, find_study_file, load_study
from .invocations import Stamper, mine, stamp
from .preflight_run import check_run
from .price import estimate, job_threads, left_to_do, observed_rates
from .queue import cell_states, enqueue, open_study, running_elsewhere, storage_for, tally
from .recover import recover_finished
from .supersede import conflicting, move_aside_if_superseded

NOT_SET_UP = 3            # --worker before the coordinator: a launcher may wait and try again


def auto_jobs(device: str, rates: dict[int, float] | None = None) -> int:
    """Cells at once when --jobs is not given. On CUDA one process per GPU, since two would share one
    device's memory and clock. On CPU, what this machine measured fastest: `rates` (torch threads ->
    seconds a training step, observed while a study trained such a model: price.observed_rates) once
    it has seen both one job on every core and several on a share each; until then 2 on 2 or more
    cores (two one-thread jobs trained 1.2-1.3x the examples per second of one two-thread job on the
    AVX512-BF16 and AVX2 pairs: perf/train_step.py --threads 1, run twice at once)."""
    if select_device(device).type == "cuda":
        return 1
    cores = len(os.sched_getaffinity(0))
    options = {j: j / rates[cores // j] for j in range(1, cores + 1) if cores // j in (rates or {})}
    if len(options) >= 2:                           # steps a second over all jobs, for each --jobs seen
        return max(options, key=lambda j: (options[j], -j))
    return 2 if cores >= 2 else 1


def queue_state(spec, cells, results: Path, url: str | None) -> dict[str, str] | None:
    """cell hash -> its state in the study's queue (done, running on host:pid, pending, failed),
    where a queue exists: on `url`, or the journal file of an earlier run. Never creates one."""
    import optuna

    if not url and not ledger.journal(results / spec.name).is_file():
        return None
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage_for(url, results / spec.name))
    except KeyError:                       # no such study on that storage yet
        return None
    hashes = {c.hash for c in cells}
    where = running_elsewhere(study, hashes)
    names = {"COMPLETE": "done", "WAITING": "pending", "FAIL": "failed", "PRUNED": "pending"}
    return {h: (f"running on {where[h]}" if h in where else names.get(st, st.lower()))
            for h, st in cell_states(study).items() if h in hashes}


def dry_run(spec, cells, results: Path, jobs: int, url: str | None = None, models: Path | None = None) -> None:
    models_root = ledger.models_root(results, models)
    states = queue_state(spec, cells, results, url)
    # done.py's rule, the one the run resumes by (recover.py): what is counted done here is skipped there
    here = done_hashes(results / spec.name, cells)
    shared = shared_cells.sources(results, spec.name, [c for c in cells if c.hash not in here])
    # A finished cell needs nothing, even where its model is gone (a fresh machine resuming a run
    # from git): only the models of cells still to do are trained.
    todo = [c for c in cells if c.hash not in here and c.hash not in shared]
    to_train = {c.training_hash for c in todo if not model_trained(folder_of(models_root, c.training_hash))}
    done_here = sum(c.hash in here for c in cells)
    print(f"study {spec.name}: {len(cells)} cells ({done_here} done, {len(shared)} shared, {len(todo)} to do), "
          f"{len({c.training_hash for c in cells})} models ({len(to_train)} to train)")
    axes = list(to_dict(spec.axes))
    print(f"{'cell':8s}  {'model':8s}  {'action':8s}  {'NFE':>4s}  " + "  ".join(f"{a:14s}" for a in axes)
          + ("  queue" if states is not None else ""))
    total = 0
    trained: set[str] = set()
    for c in cells:
        if c.hash in here or c.hash in shared:
            action = "done" if c.hash in here else "shared"
        else:
            action = "reuse"
            if c.training_hash in to_train - trained:
                action = "resume" if steps_trained(folder_of(models_root, c.training_hash)) else "train"
            trained.add(c.training_hash)
        total += c.nfe_budget()
        vals = [c.axes.get(a) or ("(predictive)" if c.kind == "predictive" else "") for a in axes]
        print(f"{c.hash:8s}  {c.training_hash:8s}  {action:8s}  {c.nfe_budget():4d}  "
              + "  ".join(f"{v:14s}" for v in vals)
              + (f"  {states.get(c.hash, 'not queued')}" if states is not None else ""))
    print(f"total NFE per test utterance over all cells: {total}")
    if shared:
        print(f"shared: {len(shared)} cell(s) that another study has scored; their scores are taken, not computed")
    if states is not None:
        kinds = [states.get(c.hash, "not queued").split(" on ")[0] for c in cells]
        print("queue: " + ", ".join(f"{kinds.count(k)} {k}" for k in
                                    ("done", "running", "pending", "failed", "not queued") if kinds.count(k)))
    if not outputs.is_reference(results):
        known = outputs.reference_cells({c.hash for c in cells})
        print(f"reference: {len(known)} of {len(cells)} cells scored by the committed reference run "
              f"({outputs.REFERENCE_RESULTS / spec.name}); the report says whether this run reproduces them")
    clash = conflicting(results / spec.name, cells)
    if clash:
        print(f"note: {results / spec.name} holds {len(clash)} of these cells under another configuration "
              "(other defaults, overrides or code): a run moves that folder aside first and starts afresh")
    print(estimate(cells, results, results / spec.name, jobs, here, models_root))


def _watch(procs, study, cells, quiet: bool, every: float = 10.0, left=None) -> None:
    """Wait for the workers; meanwhile one bar of finished cells (theirs are quiet), with the
    measured-cost estimate of what is left (`left(done cells) -> minutes`) beside tqdm's own rate."""
    from tqdm import tqdm

    hashes = {c.hash for c in cells}
    states = cell_states(study)
    # initial= keeps cells finished by an earlier invocation out of the rate and the ETA.
    done_before = sum(states.get(h) == "COMPLETE" for h in hashes)
    with tqdm(total=len(cells), initial=done_before, desc="cells", unit="cell", disable=quiet,
              mininterval=0) as bar:
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=every / len(procs))
            states = cell_states(study)
            bar.n = sum(states.get(h) == "COMPLETE" for h in hashes)
            postfix = {"running": sum(states.get(h) == "RUNNING" for h in hashes)}
            if left is not None:
                postfix["left"] = f"≈{left({h for h in hashes if states.get(h) == 'COMPLETE'}):.0f} min"
            bar.set_postfix(postfix, refresh=False)
            bar.refresh()


def run_study(args, argv: list[str]) -> int:
    """What `python -m benchmark.run` does once its arguments are parsed (run.py): compose the study,
    price it (--dry-run) or set up its stores and queue, run the workers, and build the report."""
    study_items = [i for i in args.items if i.startswith("study=")]
    if not study_items:
        print("error: name a study, e.g. study=smoke (see --help)", file=sys.stderr)
        return 2
    began = time.monotonic()             # meta.json counts this invocation's setup too
    name = study_items[-1].split("=", 1)[1]
    items = [i for i in args.items if not i.startswith("study=")]
    try:
        spec = load_study(name)
        cells = expand(spec, items)
        check_run(args, spec, cells)     # before any work: nothing is made for a run that cannot go
    except (ConfigError, PreflightError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.jobs == "auto":
        cfg = cells[0].config
        jobs = auto_jobs(cfg.device, observed_rates(cfg, Path(args.results), device_name(cfg)))
    else:
        jobs = args.jobs
    if args.dry_run:
        try:
            dry_run(spec, cells, Path(args.results), jobs, args.storage, Path(args.models) if args.models else None)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    results = Path(args.results)
    out_dir = results / spec.name
    try:
        storage = storage_for(args.storage, out_dir, processes=jobs, worker=args.worker, grace=args.grace)
        _check_tracking(args.tracking_uri, results)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.worker:          # a worker joins what its coordinator set up
        with locked(ledger.stores_lock(results)):
            if move_aside_if_superseded(out_dir, cells):      # the journal went with the old folder
                storage = storage_for(args.storage, out_dir, processes=jobs, grace=args.grace)
    out_dir.mkdir(parents=True, exist_ok=True)
    from .tracking import Tracker, default_uri  # mlflow: not imported by --help or --dry-run

    uri = args.tracking_uri or default_uri(results)
    origin = provenance(cells[0].config)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta = {"study": spec.name, "data": cells[0].config.data.name,
            "dataset": dataset_id(cells[0].config.data), "git_commit": origin["git_commit"],
            "package_versions": origin["versions"], "device": origin["device_name"], "started_at": started,
            "command": "python -m benchmark.run " + " ".join(argv),
            "tracking_uri": uri, "invocation": f"{platform.node()}:{os.getpid()}:{started}"}
    # Stores, the parent run and the queue are set up under one lock, so invocations started at the
    # same instant neither race a fresh SQLite migration nor make two parent runs or enqueue twice:
    # a file lock on this machine, and on a PostgreSQL storage a lock in the database for coordinators
    # on several machines.
    with locked(ledger.stores_lock(results)), serialized(storage, f"benchmark setup {spec.name}"):
        tracker = Tracker(uri, spec.name, ledger.mlartifacts(results), origin)
        killed = tracker.close_orphans()
        study = open_study(spec.name, storage)
        parent = study.user_attrs.get("mlflow_parent")
        if args.worker:
            if not parent:
                print(f"error: --worker: study {spec.name} has not been set up on this storage yet; run the "
                      "same command once without --worker (the coordinator), then start the workers",
                      file=sys.stderr)
                return NOT_SET_UP
            counts = tally(study, cells)
        else:
            # The queue may outlive the tracking store it was set up with: a partial run's journal kept in
            # git and resumed on a fresh machine, or --tracking-uri changed. The parent run is then made
            # again in this store (cells and trainings are found by their tags, not by id).
            if parent and tracker.has_run(parent):
                tracker.reopen(parent)
            else:
                parent = tracker.get_or_create_run(f"study {spec.name}", {"study": spec.name, "role": "study"})
                study.set_user_attr("mlflow_parent", parent)
            tracker.log_params(parent, {"study": spec.name, "claim": str(spec.claim).strip(), "cells": len(cells)})
            tracker.set_tags(parent, {"git_commit": meta["git_commit"]})
            recovered = recover_finished(study, cells, out_dir, spec.get("primary_metric", "pesq_wb"))
            if recovered:
                print(f"{len(recovered)} cell(s) finished in {out_dir / 'cells.csv'} but not in the queue (a run "
                      "whose journal was not kept): taken as done, not run again", flush=True)
            counts = enqueue(study, cells, args.max_retries)
    meta_path = ledger.meta_json(out_dir)
    meta["runs"] = [{"id": meta["invocation"], **{k: meta[k] for k in ("started_at", "command", "git_commit")}}]
    stamp(meta, meta_path, began)
    stamper = Stamper(meta, meta_path, began)
    stamper.start()
    print(f"study {spec.name}: {len(cells)} cells — {counts['done']} done, {counts['queued']} queued, "
          f"{counts['waiting'] + counts['running']} already pending, {len(counts['gave_up'])} failed too often"
          + (f"; {len(killed)} MLflow run(s) of killed processes marked KILLED" if killed else ""))
    for g in counts["gave_up"]:
        print(f"cell {g.cell.hash} [{g.cell.label}] failed {g.failures} times (--max-retries {args.max_retries}), "
              f"not retried; last error: {g.last_error}\n  fix the cause, then run the same command with "
              f"--max-retries {g.failures} to try it again", file=sys.stderr)
    opts = {"results": str(results), "storage": args.storage, "tracking_uri": uri, "quiet": args.quiet,
            "fail_fast": args.fail_fast, "git_commit": origin["git_commit"], "models": args.models,
            "grace": args.grace}
    models = ledger.models_root(results, args.models)
    if counts["queued"] + counts["waiting"] + counts["running"]:
        print(estimate(cells, results, out_dir, jobs, {h for h, st in cell_states(study).items() if st == "COMPLETE"},
                       models), flush=True)
    from .worker import jobs_worker, work  # imports mlflow (tracking.py)

    try:
        if jobs <= 1:
            work(name, items, opts)          # the study as named: a file path stays a path
        else:
            threads = job_threads(cells[0].config, jobs)         # the share the price assumes
            ctx = mp.get_context("spawn")
            procs = [ctx.Process(target=jobs_worker, args=(name, items, {**opts, "threads": threads, "quiet": True}))
                     for _ in range(jobs)]
            for p in procs:
                p.start()
            _watch(procs, study, cells, quiet=args.quiet,
                   left=lambda done: left_to_do(cells, results, out_dir, jobs, done, models).minutes)
        return _end_of_study(args, name, spec, cells, study, tracker, parent, meta, stamper)
    except BaseException as e:
        # The parent run was reopened above: whatever stopped the study, it must not stay RUNNING.
        if not args.worker:
            _close_if_running(tracker, parent, "KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise


def _check_tracking(uri: str | None, results: Path) -> None:
    """The MLflow store, checked before any work: see tracking.check_store."""
    from .tracking import check_store, default_uri

    check_store(uri or default_uri(results))


def _close_if_running(tracker, run_id: str, status: str) -> None:
    """End a run still RUNNING with `status`; a store that fails here must not hide what stopped the study."""
    try:
        if tracker.status(run_id) == "RUNNING":
            tracker.finish(run_id, status)
    except Exception as e:  # noqa: BLE001  (any store error)
        print(f"warning: could not mark MLflow run {run_id} {status}: {e}", file=sys.stderr)


def _check_tables(out_dir: Path) -> None:
    """The result tables the end of a study rewrites, checked first: one that cannot be read is named,
    and left as it is, rather than failing deep in pandas with no file name."""
    import pandas as pd

    for name in ledger.TABLES.values():
        path = out_dir / name
        if not path.exists():
            continue
        try:
            columns = pd.read_csv(path, dtype=str, keep_default_na=False).columns
        except (OSError, ValueError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        else:
            if "cell" in columns:
                continue
            reason = "it has no cell column"
        raise ConfigError(f"{path} cannot be read ({reason}); it is left as it is: move it aside and run the "
                          "same command again, which writes it anew from the rows the queue keeps")


def _end_of_study(args, name: str, spec, cells, study, tracker, parent: str, meta: dict, stamper) -> int:
    """After the workers: the tables from the queue, the invocation's record, the parent run's
    status, the report; returns the exit status."""
    from .tracking import runs_url

    results = Path(args.results)
    out_dir = results / spec.name
    uri = tracker.uri
    states = cell_states(study)
    hashes = {c.hash for c in cells}
    try:
        _check_tables(out_dir)
        sync_tables(study, out_dir, hashes)     # the cells other workers (other machines) finished
        unreadable = None
    except ConfigError as e:
        unreadable = e
    done = sum(states.get(h) == "COMPLETE" for h in hashes)
    elsewhere = running_elsewhere(study, hashes)
    failed = [c for c in cells if states.get(c.hash) == "FAIL"]
    if not args.worker:                     # the parent run is the coordinator's
        # one point per invocation
        tracker.log_metrics(parent, {"cells_done": done}, step=len(meta["runs"]), once=False)
    # Each invocation's wall-clock, so a resumed study's total cost stays on record.
    stamper.stop.set()
    stamper.join()
    mine(meta).pop("last_seen", None)
    stamp(meta, stamper.path, stamper.began, finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
          cells_done=done)
    if unreadable is not None:
        if not args.worker:
            tracker.finish(parent, "FAILED")
        print(f"error: {unreadable}", file=sys.stderr)
        return 1
    print(f"study {spec.name}: {done}/{len(cells)} cells done; results in {out_dir / 'cells.csv'}")
    print(f"browse: mlflow ui --backend-store-uri {uri}  then open {runs_url(tracker.experiment_id)}")
    if done == len(cells):
        if not args.worker or tracker.status(parent) != "FINISHED":
            tracker.finish(parent, "FINISHED")
        rc = 0
    elif failed or len(elsewhere) < len(cells) - done:
        if not args.worker:
            tracker.finish(parent, "FAILED")
        print(f"study {spec.name}: {len(failed)} cell(s) failed: "
              + ", ".join(f"{c.hash} [{c.label}]" for c in failed), file=sys.stderr)
        rc = 1
    else:                                   # the rest is in other workers' hands: not a failure here
        print(f"study {spec.name}: {len(elsewhere)} cell(s) still running in other workers: "
              + ", ".join(f"{h} on {where}" for h, where in elsewhere.items()))
        rc = 0
    if not args.no_report and done:
        try:
            from ..report import build_report  # matplotlib: only once there is a report to build
            path = build_report(spec.name, results_dir=results, reports_dir=Path(args.reports),
                                study_path=find_study_file(name),
                                reference_dir=None if outputs.is_reference(results) else outputs.REFERENCE_RESULTS)
            print(f"report: {path}")
            from ..report.index import build_index
            from ..report.load import ReportError
            try:
                print(f"scorecard: {build_index(results, Path(args.reports), find_study_file(name).parent)}")
            except ReportError as e:            # another study's results must not fail this one
                print(f"scorecard: not rebuilt: {e}", file=sys.stderr)
        except ImportError:
            print("report: benchmark.report is not available in this version")
    return rc
