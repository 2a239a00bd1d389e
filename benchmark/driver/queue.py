"""The Optuna study as the grid's queue, with memory: enqueue once, pop, heartbeat, re-queue the killed.

Cells are enqueued once into an Optuna study by the coordinator; workers pop them, and a cell's trial
is COMPLETE only when its rows are in cells.csv. We do not use GridSampler: it duplicates the tail
with several workers and never retries failures (docs/anchors.md B1).
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from ..config import ConfigError
from ..durable import pid_alive
from . import ledger
from .grid import Cell

optuna.logging.set_verbosity(optuna.logging.WARNING)

QUEUED = ("cell", "training_hash", "label")     # a queued trial's user attributes
SHARED = "--storage postgresql://USER@HOST/DB (and --tracking-uri http://HOST:PORT); docs/scaling.md"


def _rdb_storage(url: str, attempts: int = 5, **settings):
    """RDBStorage, retried when a concurrent first start wins the schema race: two processes that
    open a fresh database at once both run Optuna's CREATE TABLE/TYPE, and the loser fails with a
    unique violation on the type (seen: two coordinators on an idle machine, `studydirection`).
    The retry finds the schema there (create_all checks first) and goes on."""
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():     # "heartbeat_interval is experimental": since optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **settings)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def storage_for(url: str | None, results_dir: Path, processes: int = 1, worker: bool = False,
                grace: float = 180):
    """Default: a JournalStorage file (no server, safe for processes on one host); else any URL.

    On a database, a running cell's trial carries a heartbeat (run_cell_with_heartbeat); one silent
    for `grace` seconds is failed by the next worker or coordinator that looks, and queued again
    (requeue_killed), so the cells of a dead machine are taken over without a new invocation.

    Refused, with what to use instead: SQLite for more than one process (Optuna's FAQ: its locking
    breaks under parallel writers), and any file-based store for a --worker, which may run on
    another machine than the file (a journal's lock is a local file lock)."""
    if url and url.startswith("sqlite") and (processes > 1 or worker):
        raise ConfigError(f"--storage {url}: SQLite is not safe for more than one process; drop "
                          f"--storage for the journal file of --jobs on one machine, or use {SHARED}")
    if worker and not url:
        raise ConfigError("--worker joins a study shared with other machines, and the default "
                          f"journal file under {results_dir} is on this machine's disk: give {SHARED}")
    if url:
        import sqlalchemy.exc

        try:
            if url.startswith("sqlite"):
                return optuna.storages.RDBStorage(url)
            return _rdb_storage(url, heartbeat_interval=max(1, round(grace / 3)),
                                grace_period=max(1, round(grace)),
                                heartbeat_stale_trial_callback=requeue_killed,
                                engine_kwargs=_connect_timeout(url))
        except ImportError as e:
            raise ConfigError(f"--storage {url.split('@')[-1]}: no database driver for it ({e}); for "
                              "PostgreSQL install psycopg: pip install -e '.[scale]'") from None
        except sqlalchemy.exc.OperationalError as e:
            reason = (str(e.orig or e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError(f"--storage {_shown(url)}: cannot reach the database ({reason}); start its "
                              "server or correct the URL") from None
    from optuna.storages.journal import JournalFileBackend

    results_dir.mkdir(parents=True, exist_ok=True)
    path = ledger.journal(results_dir)
    mend_journal(path)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


CONNECT_TIMEOUT = 10      # seconds: a database that does not answer is named, not waited on


def _connect_timeout(url: str) -> dict:
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}} if url.startswith(("postgresql", "mysql")) else {}


def _shown(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (an unparsable URL: print only what follows the credentials)
        return url.split("@")[-1]


def _scan_journal(data: bytes) -> tuple[int, int | None, bool]:
    """(bytes up to the end of the last whole record, the number of the first bad line or None,
    whether whole records follow a bad line). Lines as Optuna reads them: split at b"\\n" only."""
    whole, bad, offset = 0, None, 0
    lines = data.split(b"\n")
    for number, text in enumerate(lines, start=1):
        line = text + b"\n" if number < len(lines) else text
        if not line:
            break
        try:
            if not line.endswith(b"\n"):
                raise ValueError("no end of line")
            json.loads(line)
        except ValueError:
            bad = bad or number
        else:
            if bad:
                return whole, bad, True
            whole = offset + len(line)
        offset += len(line)
    return whole, bad, False


def mend_journal(path: Path) -> None:
    """Check the journal file before Optuna reads it. Optuna appends after the last byte, so a last
    line cut short (a kill or a full disk mid-write, a copy taken mid-write) would be glued to the
    next record, and every later read fail with a JSONDecodeError that names no file. Such a tail is
    moved to `<journal>.torn-<n>` (kept: nothing is deleted) and the journal cut back to its last
    whole record: the queue is then as it was one write earlier, and a cell whose last record was
    lost is retried or taken from cells.csv (recover.py). A bad line with good ones after it is not
    a cut: it is refused, naming the line, since the records after it cannot be trusted.

    A whole journal is only read. Anything else is looked at again under Optuna's own lock on the
    journal, so a writer in the middle of an append is never taken for a cut."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file() or path.stat().st_size == 0 or _scan_journal(path.read_bytes())[1] is None:
        return
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        whole, bad, followed = _scan_journal(data)
        if bad is None:
            return
        if followed:
            raise ConfigError(f"{path}: line {bad} is not a journal record, and records follow it (the file was "
                              "edited or damaged): restore the journal from a copy, or move it aside to start the "
                              "queue afresh (cells finished in cells.csv are taken from there)")
        n = 1
        while path.with_name(f"{path.name}.torn-{n}").exists():
            n += 1
        torn = path.with_name(f"{path.name}.torn-{n}")
        with open(torn, "wb") as f:
            f.write(data[whole:])
            f.flush()
            os.fsync(f.fileno())
        os.truncate(path, whole)
        print(f"note: {path}: its last record was cut short (a write interrupted); moved to {torn} and the "
              f"journal cut back to its last whole record (line {bad - 1})", file=sys.stderr, flush=True)
    finally:
        lock.release()


def requeue_killed(study: optuna.Study, trial) -> None:
    """Optuna calls this once per stale trial, in the one process that failed it (the trial's row
    is locked while its state changes), so a dead worker's cell is queued again exactly once."""
    cell = trial.user_attrs.get("cell")
    if cell and cell_states(study).get(cell) not in ("COMPLETE", "WAITING", "RUNNING"):
        attrs = {k: trial.user_attrs[k] for k in QUEUED if k in trial.user_attrs}
        study.enqueue_trial({"cell": cell}, user_attrs=attrs, skip_if_exists=False)
        print(f"cell {cell} [{trial.user_attrs.get('label', '')}]: its worker "
              f"{trial.user_attrs.get('host', '?')}:{trial.user_attrs.get('pid', '?')} stopped beating "
              "(or lost its model's claim); queued again", flush=True)


def heartbeat(study: optuna.Study, trial):
    """A context in which `trial` (asked for, not run by Study.optimize, which would do this
    itself) has its heartbeat recorded, on storages that keep heartbeats.

    Why a private module: Optuna records heartbeats only inside Study.optimize, and a cell here is
    asked for and told by hand (so a worker can pick by model claim); optuna==5.0.0 is pinned in
    pyproject.toml, and tests/scale/test_worker_kills.py fails if this import or its behaviour moves."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)


def wait_for_running(study: optuna.Study, hashes, interval: float) -> bool:
    """With nothing queued: whether cells are still running elsewhere on a heartbeat storage, after
    waiting `interval` and failing (hence re-queuing) those whose heartbeat went silent. A worker
    waits rather than exits, so a machine lost mid-cell has its cell finished by the others."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    if not is_heartbeat_enabled(study._storage) or not running_elsewhere(study, hashes):
        return False
    time.sleep(interval)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return True


def open_study(name: str, storage) -> optuna.Study:
    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True, direction="maximize")


@dataclass
class GaveUp:
    """A cell that raised more often than --max-retries allows: not retried until the user says so."""
    cell: Cell
    failures: int
    last_error: str


def failed_by_error(trial) -> bool:
    """A FAIL that a cell's own exception caused. Kills (a dead pid, a stale heartbeat, Ctrl-C) also
    end as FAIL in Optuna, but they say nothing about the cell, so they never count against it."""
    return trial.state.name == "FAIL" and "error" in trial.user_attrs


def enqueue(study: optuna.Study, cells: list[Cell], max_retries: int = 2) -> dict:
    """Put every cell that is not done into the queue, once; re-queue failed and killed ones.

    A RUNNING trial whose process (on this host) is gone was killed: it is marked FAIL and retried,
    however often that happens. Only failures by exception count towards `max_retries`.
    Returns counts by what happened, and `gave_up`: the cells not retried, with their last error.
    """
    from optuna.trial import TrialState

    with warnings.catch_warnings():                 # "experimental since 2.9": stable enough for us
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)    # heartbeat storages (PostgreSQL): trials of dead machines
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("host") == host and not pid_alive(int(t.user_attrs.get("pid", -1))):
            study.tell(t.number, state=TrialState.FAIL)
    by_cell: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        if "cell" in t.user_attrs:
            by_cell.setdefault(t.user_attrs["cell"], []).append(t)
    counts = {"done": 0, "queued": 0, "waiting": 0, "running": 0, "gave_up": []}
    for c in queue_order(cells):
        trials = by_cell.get(c.hash, [])
        states = [t.state for t in trials]
        errors = [t.user_attrs["error"] for t in trials if failed_by_error(t)]
        if TrialState.COMPLETE in states:
            counts["done"] += 1
        elif TrialState.WAITING in states:
            counts["waiting"] += 1
        elif TrialState.RUNNING in states:
            counts["running"] += 1
        elif len(errors) > max_retries:
            counts["gave_up"].append(GaveUp(c, len(errors), errors[-1]))
        else:
            study.enqueue_trial({"cell": c.hash}, user_attrs={"cell": c.hash, "training_hash": c.training_hash,
                                                             "label": c.label}, skip_if_exists=False)
            counts["queued"] += 1
    return counts


def tally(study: optuna.Study, cells: list[Cell]) -> dict:
    """enqueue()'s counts without enqueuing anything: what a --worker finds on joining."""
    states = cell_states(study)
    counts = {"done": 0, "queued": 0, "waiting": 0, "running": 0, "gave_up": []}
    for c in cells:
        key = {"COMPLETE": "done", "WAITING": "waiting", "RUNNING": "running"}.get(states.get(c.hash, ""))
        if key:
            counts[key] += 1
    return counts


def queue_order(cells: list[Cell]) -> list[Cell]:
    """Each model's first cell ahead of every cell that reuses a model, so parallel workers start by
    training different models instead of one waiting for the model the other is training."""
    seen: set[str] = set()
    first, reuse = [], []
    for c in cells:
        (reuse if c.training_hash in seen else first).append(c)
        seen.add(c.training_hash)
    return first + reuse


def next_cell(study: optuna.Study, busy: Callable[[str], bool] = lambda training_hash: False,
              started: Callable[[str], bool] = lambda training_hash: False,
              ready: Callable[[str], bool] = lambda training_hash: False,
              shared: Callable[[str], bool] = lambda cell_hash: False,
              begun: Callable[[str], bool] = lambda cell_hash: False):
    """Pop a queued cell as a RUNNING trial (None when the queue is empty).

    `busy(training_hash)`: another worker is training that model right now. Such a cell goes back to
    the end of the queue (its trial PRUNED, a new one enqueued) while a queued cell with a free model
    remains, so a worker trains or evaluates something else instead of waiting on the model's lock.
    `started(training_hash)`: the model has a checkpoint but is not finished (a killed run's). A cell
    whose model is not started goes back the same way while a free, started one is queued: a killed
    cell is re-queued at the end, yet its model is the work most at risk (on a machine that goes
    away, its steps go too) and the nearest to a result.
    `ready(training_hash)`: the model is trained. Its cells come before any cell that would train:
    queue order starts every model before the first reuse (queue_order), so without this one worker
    trains them all before it scores a reuse, and on a machine that goes away between sessions every
    model goes with it, each to be trained again for the cells it still owes.
    `shared(cell_hash)`: another study scored the cell (shared_cells), so taking it costs a copy, not
    a model nor an evaluation: it comes first, and another worker's training of its model does not
    hold it back.
    `begun(cell_hash)`: a killed run left part of the cell's evaluation on disk (partial.py).
    With its model trained it comes before any other evaluation: it is the nearest to a result, and
    its kept work is what a machine that goes away loses.
    """
    from optuna.trial import TrialState

    tries = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) + 1
    for attempt in range(tries):
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not waiting:
            return None
        with warnings.catch_warnings():      # "supposed to be used with Study.optimize": heartbeat() does its part
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        attrs = trial.user_attrs
        if "cell" not in attrs:               # another worker took the last one: not a cell of ours
            study.tell(trial, state=TrialState.PRUNED)
            return None
        others = [t for t in waiting if t.number != trial.number and "cell" in t.user_attrs]
        last = attempt == tries - 1           # never end a worker while cells are queued
        def rank(a):                          # the cheaper to pop, the higher
            h = a["training_hash"]
            if shared(a["cell"]):
                return 4
            return (3 if begun(a["cell"]) else 2) if ready(h) else 1 if started(h) else 0

        blocked = lambda a: busy(a["training_hash"]) and not shared(a["cell"])  # noqa: E731
        free = [t.user_attrs for t in others if not blocked(t.user_attrs)]
        if not last and ((blocked(attrs) and free) or
                         (not blocked(attrs) and any(rank(a) > rank(attrs) for a in free))):
            study.tell(trial, state=TrialState.PRUNED)
            study.enqueue_trial({"cell": attrs["cell"]}, user_attrs={k: attrs[k] for k in QUEUED},
                                skip_if_exists=False)
            continue
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        return trial
    return None


def duplicate(study: optuna.Study, trial) -> bool:
    """Whether the cell of `trial` is done, or running in an earlier trial: a cell queued twice (a
    stale trial re-queued while a coordinator enqueued it too, an older store) runs once. Of two
    trials of one cell popped at once, the earlier goes on."""
    from optuna.trial import TrialState

    cell = trial.user_attrs["cell"]
    return any(t.user_attrs.get("cell") == cell and t.number != trial.number
               and (t.state == TrialState.COMPLETE or t.number < trial.number)
               for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)))


def running_elsewhere(study: optuna.Study, hashes) -> dict[str, str]:
    """cell hash -> "host:pid" of the worker running it, for cells RUNNING and not done."""
    from optuna.trial import TrialState

    done = {t.user_attrs.get("cell") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    return {t.user_attrs["cell"]: f"{t.user_attrs.get('host', '?')}:{t.user_attrs.get('pid', '?')}"
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.user_attrs.get("cell") in hashes and t.user_attrs["cell"] not in done}


def cell_states(study: optuna.Study) -> dict[str, str]:
    """cell hash -> best state name (COMPLETE over RUNNING over WAITING over FAIL)."""
    rank = {"COMPLETE": 4, "RUNNING": 3, "WAITING": 2, "FAIL": 1, "PRUNED": 0}
    out: dict[str, str] = {}
    for t in study.get_trials(deepcopy=False):
        h = t.user_attrs.get("cell")
        if h and rank[t.state.name] > rank.get(out.get(h, "PRUNED"), -1):
            out[h] = t.state.name
    return out
