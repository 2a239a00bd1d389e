"""Who trains a model: a claim on its folder (<models>/<training hash>/), so that each training
configuration is trained once however many workers, on however many machines, need it.

Two kinds, chosen from the Optuna storage the run already builds (claims_for):

- FileClaims, for workers on one machine (the journal file, SQLite): an fcntl lock on the folder's
  `.lock`. The kernel drops it the instant its holder dies, so it needs no heartbeat; but it holds
  only within one filesystem's lock manager.
- DbClaims, for a PostgreSQL storage shared by machines: a row per model in a table of our own in
  the study's database (holder, host, pid, heartbeat), its heartbeat renewed by a background
  thread while the holder trains. A claim silent for longer than the grace period is taken over
  by the next worker that wants the model, which resumes from the last checkpoint in the folder.

Why a row with a heartbeat rather than a PostgreSQL advisory lock: a session advisory lock is
released only when the server sees its connection close, which after a machine loses power or
network takes as long as TCP keepalive (two hours by default), and it cannot say who holds it.
Why not a dedicated Optuna trial: the queue's trials are cells, and every count of done, running
and pending cells would have to filter models out. A row says host and pid to anyone who looks
(psql, an error message), its heartbeat is compared with the database's own clock (now()), so the
machines' clocks may disagree, and taking over a stale claim is one atomic INSERT … ON CONFLICT.
A finished model keeps its row (done_dir), so a worker that cannot see the folder another machine
trained into says so instead of training it again.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from ..durable import locked
from ..store import model_done

GRACE_SECONDS = 180           # Optuna's own grace period for RDBStorage heartbeats is of this order
TABLE = "benchmark_training_claims"


class ClaimLost(RuntimeError):
    """Another worker took this worker's claim over (its heartbeat stalled past the grace period)."""


class ModelElsewhere(RuntimeError):
    """The model was trained, by a worker on another machine, into a folder this one cannot see."""


class _Held:
    """What the holder of a claim can ask of it while it trains."""

    def __init__(self):
        self.lost_to: str | None = None

    def check(self) -> None:
        if self.lost_to:
            raise ClaimLost(self.lost_to)


# ---------------------------------------------------------------------------------------------
# One machine: a file lock.

class FileClaims:
    def busy(self, folder: Path) -> bool:
        """Whether another process holds the folder's lock (is training it) at this moment."""
        lock = folder / ".lock"
        if not lock.is_file():
            return False
        with open(lock) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    @contextmanager
    def hold(self, folder: Path):
        """Wait for the lock, then hold it: a process killed while training drops it with its life."""
        with locked(folder / ".lock"):
            yield _Held()


# ---------------------------------------------------------------------------------------------
# Several machines: a row in the study's PostgreSQL database.

class DbClaims:
    def __init__(self, engine, grace: float = GRACE_SECONDS, poll: float | None = None):
        if grace <= 0:
            raise ValueError(f"the claim grace period must be positive, not {grace}")
        self.engine, self.grace = engine, float(grace)
        self.beat = max(self.grace / 3, 0.2)            # three missed beats before anyone takes over
        self.poll = poll if poll is not None else min(5.0, self.beat)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._create_table()

    def _sql(self, statement: str, **params):
        """The rows (as dicts) of one statement in a transaction of its own, or its row count."""
        import sqlalchemy

        with self.engine.begin() as conn:
            result = conn.execute(sqlalchemy.text(statement), params)
            return [dict(r) for r in result.mappings()] if result.returns_rows else result.rowcount

    def _create_table(self) -> None:
        import sqlalchemy

        with self.engine.begin() as conn:
            # CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL (a duplicate pg_type row):
            # workers starting together take turns under a transaction-scoped advisory lock.
            conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": TABLE})
            conn.execute(sqlalchemy.text(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (training_hash TEXT PRIMARY KEY, holder TEXT NOT NULL, "
                "host TEXT NOT NULL, pid INTEGER NOT NULL, claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                "heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(), takeovers INTEGER NOT NULL DEFAULT 0, "
                "done_dir TEXT)"))

    def holder_of(self, training_hash: str) -> dict | None:
        rows = self._sql(f"SELECT holder, host, pid, done_dir, takeovers, extract(epoch FROM now() - heartbeat) "
                         f"AS silent FROM {TABLE} WHERE training_hash = :h", h=training_hash)
        return rows[0] if rows else None

    def busy(self, folder: Path) -> bool:
        """Whether a live worker (a fresh heartbeat) other than this process is training it."""
        return bool(self._sql(f"SELECT 1 FROM {TABLE} WHERE training_hash = :h AND done_dir IS NULL "
                              "AND NOT (host = :host AND pid = :pid) "
                              "AND heartbeat >= now() - make_interval(secs => :grace)",
                              h=folder.name, host=self.host, pid=self.pid, grace=self.grace))

    def _take(self, training_hash: str, holder: str, folder: str) -> int | None:
        """Claim the model if nobody does, or if its claim is stale, or done here but since deleted
        (the caller retrains only what its folder lacks): one atomic statement, so two workers
        taking over at once cannot both win. The row's takeover count if claimed, else None."""
        rows = self._sql(
            f"INSERT INTO {TABLE} (training_hash, holder, host, pid) VALUES (:h, :holder, :host, :pid) "
            "ON CONFLICT (training_hash) DO UPDATE SET holder = EXCLUDED.holder, host = EXCLUDED.host, "
            "pid = EXCLUDED.pid, claimed_at = now(), heartbeat = now(), done_dir = NULL, "
            f"takeovers = {TABLE}.takeovers + (CASE WHEN {TABLE}.done_dir IS NULL THEN 1 ELSE 0 END) "
            f"WHERE ({TABLE}.done_dir IS NULL AND {TABLE}.heartbeat < now() - make_interval(secs => :grace)) "
            f"OR {TABLE}.done_dir = :dir RETURNING takeovers",
            h=training_hash, holder=holder, host=self.host, pid=self.pid, grace=self.grace, dir=folder)
        return rows[0]["takeovers"] if rows else None

    @contextmanager
    def hold(self, folder: Path):
        """Wait until the model is free (or its holder's heartbeat is stale, or it is done), then
        hold it, renewing the heartbeat, until the block ends."""

        thash, holder = folder.name, f"{self.host}:{self.pid}:{secrets.token_hex(4)}"
        where = str(folder.resolve())
        said = False
        while True:
            before = self.holder_of(thash)
            if before and before["done_dir"] is not None and model_done(folder):
                yield _Held()                     # trained already: nothing to claim
                return
            if before and before["done_dir"] not in (None, where):
                raise ModelElsewhere(
                    f"model {thash} was trained by {before['host']}:{before['pid']} into {before['done_dir']}, "
                    f"which this machine cannot see at {folder}: give every worker one shared --models "
                    "folder (docs/scaling.md)")
            takeovers = self._take(thash, holder, where)
            if takeovers is not None:
                break
            if not said:
                print(f"model {thash}: waiting for {before['host']}:{before['pid']} to train it (taken over "
                      f"if its heartbeat stops for {self.grace:.0f} s)" if before else
                      f"model {thash}: waiting for its claim", flush=True)
                said = True
            time.sleep(self.poll)
        # A takeover is told by the count the claiming statement returned, not by `before`'s
        # silence: that was read a moment before the claim and may have been just under the grace.
        if before and before["done_dir"] is None and takeovers > before["takeovers"]:
            print(f"model {thash}: took over the claim of {before['host']}:{before['pid']} (heartbeat silent "
                  f"{before['silent']:.0f} s); resuming from its last checkpoint", flush=True)
        held = _Held()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(thash, holder, held, stop), daemon=True,
                                name=f"claim {thash}")
        beat.start()
        done = False
        try:
            yield held
            done = model_done(folder)
        finally:
            stop.set()
            beat.join()
            self._release(thash, holder, where if done else None)

    def _beat(self, thash: str, holder: str, held: _Held, stop: threading.Event) -> None:
        while not stop.wait(self.beat):
            try:
                renewed = self._sql(f"UPDATE {TABLE} SET heartbeat = now() WHERE training_hash = :h "
                                    "AND holder = :holder", h=thash, holder=holder)
            except Exception as e:  # noqa: BLE001  a database blip: the next beat tries again
                print(f"warning: model {thash}: claim heartbeat failed: {e}", file=sys.stderr)
                continue
            if not renewed:
                row = self.holder_of(thash) or {}
                held.lost_to = (f"model {thash}: the claim was taken over by {row.get('host')}:{row.get('pid')} "
                                f"(this worker's heartbeat was silent for over {self.grace:.0f} s)")
                return

    def _release(self, thash: str, holder: str, done_dir: str | None) -> None:
        if done_dir:
            self._sql(f"UPDATE {TABLE} SET done_dir = :dir, heartbeat = now() WHERE training_hash = :h "
                      "AND holder = :holder", h=thash, holder=holder, dir=done_dir)
        else:
            self._sql(f"DELETE FROM {TABLE} WHERE training_hash = :h AND holder = :holder", h=thash, holder=holder)


def postgres_engine(storage):
    """The SQLAlchemy engine of a PostgreSQL RDBStorage, else None (a journal file, SQLite, memory)."""
    import optuna

    backend = getattr(storage, "_backend", storage)       # optuna wraps an RDBStorage in a cache
    if isinstance(backend, optuna.storages.RDBStorage) and backend.engine.dialect.name == "postgresql":
        return backend.engine
    return None


def claims_for(storage, grace: float = GRACE_SECONDS):
    """DbClaims on the engine of a PostgreSQL RDBStorage, FileClaims for anything else."""
    engine = postgres_engine(storage)
    return DbClaims(engine, grace) if engine is not None else FileClaims()


@contextmanager
def serialized(storage, key: str):
    """One process at a time, across machines, on a PostgreSQL storage (a no-op elsewhere, where
    the caller's file lock already serializes): a session advisory lock. Unlike a model's claim it
    is held for seconds, and the server drops it with a killed holder's connection, so it needs no
    heartbeat."""
    import sqlalchemy

    engine = postgres_engine(storage)
    if engine is None:
        yield
        return
    lock = sqlalchemy.text("SELECT pg_advisory_lock(hashtext(:k))")
    with engine.connect() as conn:
        conn.execute(lock, {"k": key})
        conn.commit()
        try:
            yield
        finally:
            # the connection goes back to the pool, where a session lock would outlive this block
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
            conn.commit()
