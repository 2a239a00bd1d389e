"""What keeps records right when a process is killed at any instant: atomic writes, file locks,
and whether the process that owns a record is still alive.

A kill -9 can land between any two bytes; every marker the study driver trusts (done.json,
meta.json, cells.csv) is therefore written to a temporary file and renamed over the old one, which
POSIX makes atomic, and read back as "absent" when it is unreadable anyway (a disk-full write, a
hand edit).
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path):
    """An exclusive lock on `path` for processes on this host (fcntl: one filesystem's lock manager)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1))


def read_json(path: Path):
    """The JSON in `path`, or None when it is missing or unreadable (treated as never written)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
