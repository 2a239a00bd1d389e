"""Run a study: `python -m benchmark.run study=<name> [key=value …] [options]`.

Trains and evaluates every cell of studies/<name>.yaml, logs to MLflow, writes
results/<name>/cells.csv as cells finish, and ends with reports/<name>.html. Run the same command
again after a crash: finished cells are skipped, failed and killed ones are retried.

Options:
  --dry-run            print the resolved grid (hash, axes, train or reuse, NFE) and exit
  --jobs N|auto        run N cells at once on this machine (one torch thread share each);
                       auto (default): 2 on a CPU with 2 or more cores (training runs
                       faster than one job with both threads: 1.2x), 1 on CUDA (one process per GPU)
  --storage URL        Optuna storage shared by workers on several machines (PostgreSQL URL);
                       default: a journal file under results/<name>/
  --worker             join a study that another invocation (the coordinator) set up on a
                       shared --storage: claim queued cells and run them until none is left
                       or runs elsewhere (taking over those whose heartbeat stops); never
                       enqueue. One per GPU, on any number of machines. Exit 3 when the
                       coordinator has not set the study up yet (scripts/slurm-array.sh waits)
  --tracking-uri URI   MLflow tracking URI (a server); default: sqlite under results/
  --results DIR        where results and stores go (default: results)
  --models DIR         where trained models go, one folder per training config (default:
                       <results>/models); workers on machines that share no --results all give
                       one shared folder here (a network file system)
  --grace SECONDS      on a PostgreSQL --storage: how long a worker's heartbeat may be silent
                       before its cell, and the model it trains, are taken over (default 180)
  --reports DIR        where the HTML report goes (default: reports)
  --max-retries N      retries of a failed cell (default 2)
  --fail-fast          stop at the first failed cell instead of carrying on
  --no-report          skip the HTML report
  --quiet              no progress bars
Any key=value sets a configuration key for every cell (see benchmark/configs/), e.g.
  trainer.max_steps=500  data=folder data.root=DIR  scale=paper  device=cuda
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .config import GROUPS, ConfigError, group_choices, to_dict
from .durable import locked
from .meta import Stamper, mine, stamp
from .provenance import device_name, provenance
from .study import (STUDIES_DIR, cell_states, enqueue, expand, find_study_file, load_study, open_study,
                    running_elsewhere, storage_for, tally)


NOT_SET_UP = 3            # --worker before the coordinator: a launcher may wait and try again


def _count(least: int, auto: bool = False):
    def parse(text: str) -> int | str:
        if auto and text == "auto":
            return text
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"{n}: must be at least {least}")
        return n
    return parse


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0 seconds")
    return s


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.run", add_help=False)
    p.add_argument("items", nargs="*")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--jobs", type=_count(1, auto=True), default="auto")
    p.add_argument("--storage")
    p.add_argument("--tracking-uri")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--results", default="results")
    p.add_argument("--models")
    p.add_argument("--grace", type=_seconds, default=180.0)
    p.add_argument("--reports", default="reports")
    p.add_argument("--max-retries", type=_count(0), default=2)
    p.add_argument("--fail-fast", action="store_true")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("-h", "--help", action="store_true")
    return p


def auto_jobs(device: str, rates: dict[int, float] | None = None) -> int:
    """Cells at once when --jobs is not given. On CUDA one process per GPU, since two would share one
    device's memory and clock. On CPU, what this machine measured fastest: `rates` (torch threads ->
    seconds a training step, observed while a study trained such a model: price.observed_rates) once
    it has seen both one job on every core and several on a share each; until then 2 on 2 or more
    cores (two one-thread jobs trained 1.2-1.3x the examples per second of one two-thread job on the
    AVX512-BF16 and AVX2 pairs: perf/train_step.py --threads 1, run twice at once)."""
    from .runtime import select_device

    if select_device(device).type == "cuda":
        return 1
    cores = len(os.sched_getaffinity(0))
    options = {j: j / rates[cores // j] for j in range(1, cores + 1) if cores // j in (rates or {})}
    if len(options) >= 2:                           # steps a second over all jobs, for each --jobs seen
        return max(options, key=lambda j: (options[j], -j))
    return 2 if cores >= 2 else 1


def help_text() -> str:
    studies = sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))
    lines = [__doc__, "Studies (studies/*.yaml): " + ", ".join(studies) if studies else "No studies/ here.",
             "Configuration groups (benchmark/configs/<group>/):"]
    lines += [f"  {g}: {', '.join(group_choices(g))}" for g in (*GROUPS, "scale")]
    return "\n".join(lines)


def _done_cells(out_dir: Path, cells, done=None) -> set[str]:
    """Cells finished here (`done`, else cells.csv's), and those of `cells` whose scores another study
    holds (shared_cells.py: they cost nothing here)."""
    from . import shared_cells

    done = shared_cells.done_cells(out_dir) if done is None else set(done)
    return done | set(shared_cells.sources(out_dir.parent, out_dir.name, [c for c in cells if c.hash not in done]))


def left_to_do(cells, results: Path, out_dir: Path, jobs: int, done_cells=None, models: Path | None = None):
    """The price of what is left, from unit costs measured on this device (price.py)."""
    from .cell import model_done, steps_trained
    from .price import price

    models = models or results / "models"
    hashes = {c.training_hash for c in cells}
    done_models = {h for h in hashes if model_done(models / h)}
    started = {h: steps_trained(models / h) for h in hashes - done_models}
    return price(cells, results, device_name(cells[0].config), jobs, done_models,
                 _done_cells(out_dir, cells, done_cells), steps_done=started)


def estimate(cells, results: Path, out_dir: Path, jobs: int, done_cells=None, models: Path | None = None) -> str:
    from .price import describe

    return describe(left_to_do(cells, results, out_dir, jobs, done_cells, models), device_name(cells[0].config),
                    jobs)


def queue_state(spec, cells, results: Path, url: str | None) -> dict[str, str] | None:
    """cell hash -> its state in the study's queue (done, running on host:pid, pending, failed),
    where a queue exists: on `url`, or the journal file of an earlier run. Never creates one."""
    import optuna

    if not url and not (results / spec.name / "optuna.journal").is_file():
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
    from . import shared_cells
    from .cell import model_done, steps_trained

    models_root = models or results / "models"
    states = queue_state(spec, cells, results, url)
    here = shared_cells.done_cells(results / spec.name)
    shared = shared_cells.sources(results, spec.name, [c for c in cells if c.hash not in here])
    # A finished cell needs nothing, even where its model is gone (a fresh machine resuming a run
    # from git): only the models of cells still to do are trained.
    todo = [c for c in cells if c.hash not in here and c.hash not in shared]
    to_train = {c.training_hash for c in todo if not model_done(models_root / c.training_hash)}
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
                action = "resume" if steps_trained(models_root / c.training_hash) else "train"
            trained.add(c.training_hash)
        total += c.nfe_budget()
        vals = [c.axes.get(a) or ("(predictive)" if c.kind == "predictive" else "") for a in axes]
        print(f"{c.hash:8s}  {c.training_hash:8s}  {action:8s}  {c.nfe_budget():4d}  " + "  ".join(f"{v:14s}" for v in vals)
              + (f"  {states.get(c.hash, 'not queued')}" if states is not None else ""))
    print(f"total NFE per test utterance over all cells: {total}")
    if shared:
        print(f"shared: {len(shared)} cell(s) that another study has scored; their scores are taken, not computed")
    if states is not None:
        kinds = [states.get(c.hash, "not queued").split(" on ")[0] for c in cells]
        print("queue: " + ", ".join(f"{kinds.count(k)} {k}" for k in
                                    ("done", "running", "pending", "failed", "not queued") if kinds.count(k)))
    from .supersede import conflicting

    clash = conflicting(results / spec.name, cells)
    if clash:
        print(f"note: {results / spec.name} holds {len(clash)} of these cells under another configuration "
              "(other defaults, overrides or code): a run moves that folder aside first and starts afresh")
    print(estimate(cells, results, results / spec.name, jobs, models=models_root))


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    if args.help:
        print(help_text())
        return 0
    study_items = [i for i in args.items if i.startswith("study=")]
    if not study_items:
        print("error: name a study, e.g. study=smoke (see --help)", file=sys.stderr)
        return 2
    name = study_items[-1].split("=", 1)[1]
    items = [i for i in args.items if not i.startswith("study=")]
    try:
        spec = load_study(name)
        cells = expand(spec, items)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.jobs == "auto":
        from .price import observed_rates

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
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.worker:          # a worker joins what its coordinator set up
        from .supersede import move_aside_if_superseded

        with locked(results / ".stores.lock"):
            if move_aside_if_superseded(out_dir, cells):      # the journal went with the old folder
                storage = storage_for(args.storage, out_dir, processes=jobs, grace=args.grace)
    out_dir.mkdir(parents=True, exist_ok=True)
    from .tracking import Tracker, default_uri, runs_url

    uri = args.tracking_uri or default_uri(results)
    origin = provenance(cells[0].config)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    from .data import dataset_id
    meta = {"study": spec.name, "data": cells[0].config.data.name,
            "dataset": dataset_id(cells[0].config.data), "git_commit": origin["git_commit"],
            "package_versions": origin["versions"], "device": origin["device_name"], "started_at": started,
            "command": "python -m benchmark.run " + " ".join(sys.argv[1:] if argv is None else argv),
            "tracking_uri": uri, "invocation": f"{platform.node()}:{os.getpid()}:{started}"}
    # Stores, the parent run and the queue are set up under one lock, so invocations started at the
    # same instant neither race a fresh SQLite migration nor make two parent runs or enqueue twice:
    # a file lock on this machine, and on a PostgreSQL storage a lock in the database for coordinators
    # on several machines.
    from .training_claim import serialized

    with locked(results / ".stores.lock"), serialized(storage, f"benchmark setup {spec.name}"):
        tracker = Tracker(uri, spec.name, results / "mlartifacts", origin)
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
            from .recover import recover_finished

            recovered = recover_finished(study, cells, out_dir, spec.get("primary_metric", "pesq_wb"))
            if recovered:
                print(f"{len(recovered)} cell(s) finished in {out_dir / 'cells.csv'} but not in the queue (a run "
                      "whose journal was not kept): taken as done, not run again", flush=True)
            counts = enqueue(study, cells, args.max_retries)
    meta_path = out_dir / "meta.json"
    meta["runs"] = [{"id": meta["invocation"], **{k: meta[k] for k in ("started_at", "command", "git_commit")}}]
    began = time.monotonic()
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
    models = Path(args.models) if args.models else results / "models"
    if counts["queued"] + counts["waiting"] + counts["running"]:
        print(estimate(cells, results, out_dir, jobs, {h for h, st in cell_states(study).items() if st == "COMPLETE"},
                       models), flush=True)
    from .worker import jobs_worker, work

    if jobs <= 1:
        work(name, items, opts)          # the study as named: a file path stays a path
    else:
        from .price import job_threads

        threads = job_threads(cells[0].config, jobs)         # the share the price assumes
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=jobs_worker, args=(name, items, {**opts, "threads": threads, "quiet": True}))
                 for _ in range(jobs)]
        for p in procs:
            p.start()
        _watch(procs, study, cells, quiet=args.quiet,
               left=lambda done: left_to_do(cells, results, out_dir, jobs, done, models).minutes)
    states = cell_states(study)
    hashes = {c.hash for c in cells}
    from .cell import sync_tables
    sync_tables(study, out_dir, hashes)     # the cells other workers (other machines) finished
    done = sum(states.get(h) == "COMPLETE" for h in hashes)
    elsewhere = running_elsewhere(study, hashes)
    failed = [c for c in cells if states.get(c.hash) == "FAIL"]
    if not args.worker:                     # the parent run is the coordinator's
        tracker.log_metrics(parent, {"cells_done": done}, step=len(meta["runs"]), once=False)   # one point per invocation
    # Each invocation's wall-clock, so a resumed study's total cost stays on record.
    stamper.stop.set()
    stamper.join()
    mine(meta).pop("last_seen", None)
    stamp(meta, meta_path, began, finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
           cells_done=done)
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
            from .report import build_report
            path = build_report(spec.name, results_dir=results, reports_dir=Path(args.reports),
                                study_path=find_study_file(name))
            print(f"report: {path}")
            from .report.index import build_index
            from .report.load import ReportError
            try:
                print(f"scorecard: {build_index(results, Path(args.reports), find_study_file(name).parent)}")
            except ReportError as e:            # another study's results must not fail this one
                print(f"scorecard: not rebuilt: {e}", file=sys.stderr)
        except ImportError:
            print("report: benchmark.report is not available in this version")
    return rc


if __name__ == "__main__":
    sys.exit(main())
