"""Datasets made on first use: one folder per settings hash, built once, then reused.

A folder is complete when it has `settings.json`, written last. It is filled in a temporary
sibling and moved into place in one rename, so a killed build leaves nothing that looks finished,
and a lock beside it makes parallel workers (`--jobs`, or machines sharing one cache) wait for one
build instead of each making its own copy of the same files on the same cores.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def cache_root(cfg: Mapping) -> Path:
    """data.cache_dir, else $BENCHMARK_CACHE, else ~/.cache/benchmark."""
    root = cfg.get("cache_dir") or os.environ.get("BENCHMARK_CACHE") or "~/.cache/benchmark"
    return Path(root).expanduser()


def is_complete(target: Path) -> bool:
    return (target / "settings.json").is_file()


def ensure_folder(target: Path, fill: Callable[[Path], None]) -> Path:
    """`target`, made first by `fill(tmp)` if incomplete; `fill` must write settings.json last."""
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another process to finish making {target}", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_complete(target):
            if target.exists():
                raise RuntimeError(f"{target}: an incomplete dataset folder (no settings.json); "
                                   "delete it and run again")
            _build(target, fill)
    return target


def _build(target: Path, fill: Callable[[Path], None]) -> None:
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        fill(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not is_complete(target):   # not a finished copy from a rival
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
