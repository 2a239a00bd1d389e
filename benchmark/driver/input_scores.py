"""The noisy input's scores, computed once per dataset and split and reused by every cell and study.

The input (noisy vs clean) does not depend on the system, yet each cell used to score it again:
about half of a cell's scoring work. The cache is a CSV per (dataset, split) under
`<results>/input_scores/`, keyed by the data settings that change the audio and by the versions of
the metric packages, so a new dataset, split or `pesq`/`pystoi`/DNSMOS release never reads stale scores.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..config import stable_hash, to_dict
from ..durable import locked, write_atomic
from ..provenance import package_versions

_NOT_AUDIO = ("cache_dir", "workers")       # where the data lives, how fast it is built


def cache_path(root: Path, data_cfg, split: str) -> Path:
    data = {k: v for k, v in dict(to_dict(data_cfg)).items() if k not in _NOT_AUDIO}
    versions = package_versions(("pesq", "pystoi"))
    # DNSMOS's packages (an optional extra) join the key only where installed, so that a cache
    # made without them keeps its name
    versions.update({k: v for k, v in package_versions(("speechmos", "onnxruntime")).items() if v != "absent"})
    key = stable_hash({"data": data, "split": split, "versions": versions}, n=12)
    return Path(root) / f"{data['name']}-{split}-{key}.csv"


def load(path: Path) -> dict[str, dict[str, float]]:
    """name -> {metric: input score}; empty when there is no cache (or it is unreadable)."""
    try:
        table = pd.read_csv(path, dtype={"name": str, "metric": str})
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return {}
    out: dict[str, dict[str, float]] = {}
    for name, metric, value in table[["name", "metric", "input"]].itertuples(index=False):
        out.setdefault(name, {})[metric] = float(value) if value == value else math.nan
    return out


def store(path: Path, table: pd.DataFrame) -> None:
    """Merge a cell's per-utterance input scores into the cache (atomically, under a lock)."""
    new = table[["name", "metric", "input"]]
    with locked(path.with_suffix(".lock")):
        try:
            old = pd.read_csv(path, dtype={"name": str, "metric": str})
            new = pd.concat([old, new], ignore_index=True).drop_duplicates(["name", "metric"], keep="first")
        except (OSError, ValueError, pd.errors.EmptyDataError):
            pass
        write_atomic(path, new.to_csv(index=False))
