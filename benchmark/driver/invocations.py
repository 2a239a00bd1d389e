"""results/<study>/meta.json: each invocation's record (command, commit, wall-clock), kept whole
under kills (atomic writes, a stamp every STAMP_EVERY seconds) and under concurrent invocations
(merged by id). A meta.json that cannot be read back is never replaced silently: a run refuses it
before any work (check_meta), and one spoilt during a run is moved aside, with a note (stamp)."""
from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from ..durable import locked, write_json
from ..preflight import PreflightError

# A killed invocation (kill -9 never runs the final stamp) loses at most this much of its time: with
# a stamp a minute, six one-to-two-minute invocations killed in turn recorded 2.0 of 6 minutes.
STAMP_EVERY = 15.0


def mine(meta: dict) -> dict:
    """This invocation's record in meta["runs"] (found by its id: other invocations add theirs)."""
    return next(r for r in meta["runs"] if r.get("id") == meta["invocation"])


def _merge_runs(on_disk: list[dict], ours: list[dict]) -> list[dict]:
    """Every invocation's record once: ours replace theirs by id, the others' are kept as written."""
    def key(r):
        return r.get("id") or (r.get("started_at"), r.get("command"))
    merged = {key(r): r for r in on_disk}
    merged.update({key(r): r for r in ours})
    return list(merged.values())


def stamp(meta: dict, path: Path, began: float, **extra) -> None:
    """Record this invocation's wall-clock so far in meta.json.

    Atomic (a kill never leaves half a file) and merged under a lock with what is on disk, so two
    invocations sharing a study each keep their record instead of the last writer's winning.
    """
    mine(meta).update(minutes=round((time.monotonic() - began) / 60, 1), **extra)
    with locked(path.with_suffix(".lock")):
        meta["runs"] = _merge_runs(_kept_runs(path), meta["runs"])
        meta["wall_minutes"] = round(sum(r.get("minutes", 0) for r in meta["runs"]), 1)
        write_json(path, meta)


class Stamper(threading.Thread):
    """Re-stamps meta.json every `every` seconds, so a killed run's time still counts in wall_minutes."""

    def __init__(self, meta: dict, path: Path, began: float, every: float = STAMP_EVERY):
        super().__init__(daemon=True)
        self.meta, self.path, self.began, self.every = meta, path, began, every
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                stamp(self.meta, self.path, self.began,
                       last_seen=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            except OSError:
                pass                            # a full disk must not kill the study; the final stamp retries


def past_runs(path: Path) -> list[dict]:
    """The invocations recorded by earlier runs of this study (empty if none or unreadable)."""
    try:
        runs = json.loads(path.read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return runs if isinstance(runs, list) else []


def _unreadable(path: Path) -> str | None:
    """Why meta.json cannot be read back as runs (None: it can, or it is not there yet)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    except ValueError as e:
        return f"is not valid JSON ({e})"
    if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
        return "does not hold a mapping with a list of runs"
    return None


def check_meta(path: Path) -> None:
    """Before any work: a meta.json that stamp() could not read back would be replaced, and the
    earlier invocations' records it holds lost."""
    why = _unreadable(path)
    if why:
        raise PreflightError(f"{path} {why}; it holds the earlier invocations' records, which a run would "
                             f"overwrite: repair it, or move it aside (mv {path} {path}.corrupt), then run again")


def _kept_runs(path: Path) -> list[dict]:
    """past_runs(), but a file spoilt since check_meta is moved aside and said so, not overwritten."""
    why = _unreadable(path)
    if why:
        aside = path.with_name(f"{path.name}.corrupt-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        path.replace(aside)
        print(f"warning: {path} {why}: moved to {aside}; the earlier invocations' records are there",
              file=sys.stderr, flush=True)
    return past_runs(path)
