"""A worker's loop: pop a queued cell, make sure its model is trained (once, under a claim), enhance,
score, log, and repeat until the queue is empty and nothing runs elsewhere that could still fail.

Run by every invocation of benchmark.run (the coordinator and each --worker), in-process or as one
of the --jobs processes. On a shared database the running cell's trial carries a heartbeat, and a
worker with nothing queued waits for the cells other workers run: when one of them goes silent for
the grace period, its cell is queued again and this worker takes it (and, through the model's
claim, the half-trained model, resumed from its last checkpoint).
"""
from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path

import torch

from ..config import inference_config
from ..data import eval_splits
from ..provenance import device_name, provenance
from ..store import folder_of, model_done, started
from . import ledger, shared_cells, training_record
from .cell import append_rows, cell_rows, ensure_model, evaluate_cell, objective, rows_attr
from .cell_files import log_cell, open_cell_run
from .claims import GRACE_SECONDS, ClaimLost, claims_for
from .condition_scores import condition_rows
from .grid import expand, load_study
from .partial import CellProgress
from .price import left_to_do, observe_enhancement, observe_training
from .queue import (
    cell_states,
    duplicate,
    heartbeat,
    next_cell,
    open_study,
    requeue_killed,
    running_elsewhere,
    storage_for,
    wait_for_running,
)
from .tracking import Tracker


def models_root(opts: dict) -> Path:
    """Where the models live: --models, else <results>/models (one machine, or a shared --results)."""
    return ledger.models_root(opts["results"], opts.get("models"))


def work(study_name: str, items: list[str], opts: dict) -> None:
    """A worker: pop queued cells until none is left (and, on a database, none runs elsewhere)."""
    from optuna.trial import TrialState


    spec = load_study(study_name)
    cells = {c.hash: c for c in expand(spec, items)}
    results = Path(opts["results"])
    models = models_root(opts)
    out_dir = results / spec.name
    grace = float(opts.get("grace") or GRACE_SECONDS)
    storage = storage_for(opts.get("storage"), out_dir, grace=grace)
    study = open_study(spec.name, storage)
    claims = claims_for(storage, grace)
    first = next(iter(cells.values()))
    tracker = Tracker(opts["tracking_uri"], spec.name, ledger.mlartifacts(results),
                      provenance(first.config, opts.get("git_commit")))
    parent = study.user_attrs.get("mlflow_parent")
    progress = not opts.get("quiet")

    def busy(training_hash: str) -> bool:
        folder = models / training_hash
        return not model_done(folder) and claims.busy(folder)

    waiting_said = False
    while True:
        # Other studies' scores, read once a pop and only when a queued cell asks (not while polling).
        takeable = functools.cache(lambda: shared_cells.sources(results, spec.name, cells.values()))
        trial = next_cell(study, busy, started=lambda h: started(folder_of(models, h))
                          and not model_done(models / h), ready=lambda h: model_done(models / h),
                          shared=lambda h: h in takeable(),
                          begun=lambda h: CellProgress.begun(ledger.partial_dir(results / spec.name, h)))
        if trial is None:
            # Polled often, so the tail of the grid ends as soon as its last cell does; stale
            # heartbeats are found at the same pace, whatever the grace period.
            if not wait_for_running(study, set(cells), interval=min(2.0, grace / 3)):
                break
            if not waiting_said:
                where = running_elsewhere(study, set(cells))
                print(f"nothing queued; waiting on {len(where)} cell(s) running elsewhere ("
                      + ", ".join(f"{h} on {w}" for h, w in where.items())
                      + f"), to take over any whose heartbeat stops for {grace:.0f} s", flush=True)
                waiting_said = True
            continue
        waiting_said = False
        cell = cells.get(trial.user_attrs["cell"])
        if cell is None:
            trial.set_user_attr("error", "not a cell of this study file (queued by another version of it)")
            study.tell(trial, state=TrialState.FAIL)
            continue
        if duplicate(study, trial):
            study.tell(trial, state=TrialState.PRUNED)
            continue
        if opts.get("threads"):
            cell.config.trainer.threads = int(opts["threads"])
        cell_run = None
        try:
            with heartbeat(study, trial):
                shared = shared_cells.read(takeable().get(cell.hash))
                trained = model_done(models / cell.training_hash)
                if shared is not None and not trained:
                    # Its scores exist: the model (hours on a fresh machine) is not needed for them.
                    folder, info = None, shared.train
                    train_run = tracker.find_run(training_hash=cell.training_hash, role="training")
                    print(f"cell {cell.hash} [{cell.label}]: model {cell.training_hash} not here and not "
                          "needed", flush=True)
                else:
                    print(f"cell {cell.hash} [{cell.label}]: {'reusing' if trained else 'training'} model "
                          f"{cell.training_hash}, then enhancing and scoring", flush=True)
                    folder, info, train_run = ensure_model(
                        cell.config, models, tracker=tracker, parent_run=parent, progress=progress, claims=claims,
                        observe=lambda info, threads: observe_training(cell.config, results,
                                                                       device_name(cell.config), info, threads))
                training_record.record(out_dir, cell.training_hash, folder, int(cell.config.trainer.val_utterances))
                cell_run = open_cell_run(tracker, cell, train_run)
                rows, timing, value = _evaluate(spec, cell, trial, folder, info, tracker, cell_run, results,
                                                progress, shared)
            study.tell(trial, value)
            states = cell_states(study)
            done_now = {h for h, st in states.items() if st == "COMPLETE"}
            left = None if opts.get("quiet") else left_to_do(list(cells.values()), results, out_dir, 1, done_now,
                                                             models=models)
            _summary_line(cell, rows, timing, len(done_now & set(cells)), len(cells), left)
        except KeyboardInterrupt:
            _end_run(tracker, cell_run, "KILLED")
            study.tell(trial, state=TrialState.FAIL)         # no "error": an interrupt is not the cell's fault
            raise
        except ClaimLost as e:                  # not the cell's fault: it waits for the new holder
            study.tell(trial, state=TrialState.FAIL)
            print(f"cell {cell.hash} [{cell.label}]: {e}", file=sys.stderr, flush=True)
            requeue_killed(study, trial)
        except Exception as e:
            traceback.print_exc()
            trial.set_user_attr("error", f"{type(e).__name__}: {e}".strip()[:1000])
            _end_run(tracker, cell_run, "FAILED")
            study.tell(trial, state=TrialState.FAIL)
            print(f"cell {cell.hash} [{cell.label}] FAILED (it will be retried on the next run)", file=sys.stderr)
            if opts.get("fail_fast"):
                raise


def _evaluate(spec, cell, trial, folder: Path | None, info: dict, tracker, cell_run, results: Path, progress: bool,
              shared: shared_cells.Shared | None):
    """Enhance and score the cell, log it, write its rows and keep them in its trial (the queue is
    where every machine rebuilds the tables from); returns (rows, timing, objective value)."""
    out_dir = results / spec.name
    partial = ledger.partial_dir(out_dir, cell.hash)      # a killed evaluation's work (partial.py)
    splits = eval_splits(cell.config.data, cell.config.eval.splits)
    infer = inference_config(cell.config)
    if shared is not None:
        print(f"cell {cell.hash} [{cell.label}]: the same cell was scored by study {shared.study}; "
              f"its scores are taken ({shared.folder})", flush=True)
        table, extra = shared.table, {"timing": shared.timing, "examples": {}, "weights": shared.weights}
        shared_cells.copy_examples(shared, ledger.cell_dir(out_dir, cell.hash))
        infer = {**infer, "scores_from_study": shared.study}
    else:
        table, extra = evaluate_cell(cell.config, folder, splits, progress=progress,
                                     input_cache=ledger.input_scores(results), keep=partial)
        observe_enhancement(cell.config, results, device_name(cell.config), extra["timing"], torch.get_num_threads())
    device = shared.device if shared is not None and shared.device else device_name(cell.config)
    rows = cell_rows(spec.name, cell, table, extra["timing"], info, device, extra["weights"])
    log_cell(tracker, cell_run, out_dir, cell, table, rows, extra, infer)
    by_condition = condition_rows(spec.name, cell, table)
    if len(by_condition):
        append_rows(ledger.conditions_csv(out_dir), by_condition)
        trial.set_user_attr("condition_rows", rows_attr(by_condition))
    # cells.csv last: a cell with rows there is done, journal or not (recover.py)
    append_rows(ledger.cells_csv(out_dir), rows)
    trial.set_user_attr("rows", rows_attr(rows))
    CellProgress(partial).clear()                  # the rows are in cells.csv: nothing left to resume
    return rows, extra["timing"], objective(rows, spec.get("primary_metric", "pesq_wb"))


def jobs_worker(study_name: str, items: list[str], opts: dict) -> None:
    """A --jobs worker process: it dies with its coordinator (a kill -9 of the command must not
    leave workers running a study behind the user's back), then works as `work`."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
        if os.getppid() == 1:                                          # the coordinator died already
            return
    work(study_name, items, opts)


def _end_run(tracker, run_id, status: str) -> None:
    """End an MLflow run with the status of what happened; a tracker that fails here must not hide
    the cell's own error."""
    if tracker is None or run_id is None:
        return
    try:
        tracker.finish(run_id, status)
    except Exception as e:  # noqa: BLE001  (any store error)
        print(f"warning: could not mark MLflow run {run_id} {status}: {e}", file=sys.stderr)


def _summary_line(cell, rows, timing, done: int, total: int, left=None) -> None:
    out = rows[(rows.which == "output")].set_index(["split", "metric"])["mean"]
    split = next(iter(timing))
    parts = [f"{m} {out.get((split, m), float('nan')):.3f}" for m in ("pesq_wb", "estoi", "si_sdr")]
    print(f"cell {cell.hash} [{cell.label}] {split}: " + ", ".join(parts)
          + f", NFE {timing[split]['nfe']:.0f}, RTF {timing[split]['rtf']:.3f} ({done}/{total} cells done"
          + (f", ≈ {max(left.minutes, 1):.0f} min left" if left is not None and done < total else "") + ")",
          flush=True)
