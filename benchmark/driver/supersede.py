"""Results of another configuration of a study are moved aside, never mixed with this run's.

A results folder is keyed by the study's name, a cell by the hash of its whole configuration. When
the defaults change (a new embedded recipe), or the same study is run with other overrides, the
same cell labels come back with other hashes: run into the old folder, the new rows would sit
beside the old ones in cells.csv and every table would mix two recipes under one label. So the
coordinator moves such a folder to `<study>.superseded-<UTC time>` first, says so, and starts a
fresh one; nothing is deleted, and trained models (results/models, keyed by training hash) stay
where they are for any cell that still uses them. Cells merely added to or dropped from a study
are not a conflict: their labels are new, or no longer asked for.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import ledger


def conflicting(out_dir: Path, cells) -> dict[str, tuple[str, str]]:
    """label -> (hash in cells.csv, hash in this grid), for labels that both hold with other hashes."""
    try:
        done = pd.read_csv(ledger.cells_csv(out_dir), dtype=str, usecols=["cell", "label"],
                           keep_default_na=False).drop_duplicates()
    except (OSError, ValueError):          # no table yet, or one without those columns
        return {}
    grid = {c.label: c.hash for c in cells}
    return {row.label: (row.cell, grid[row.label]) for row in done.itertuples()
            if row.label in grid and row.cell != grid[row.label]}


def move_aside_if_superseded(out_dir: Path, cells) -> Path | None:
    """Move out_dir away when it holds another configuration of these cells; returns where to."""
    clash = conflicting(out_dir, cells)
    if not clash:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = out_dir.with_name(f"{out_dir.name}.superseded-{stamp}")
    out_dir.rename(target)
    label, (old, new) = next(iter(clash.items()))
    print(f"note: {out_dir} held {len(clash)} cell(s) of another configuration of this study (e.g. "
          f"[{label}] was cell {old}, is {new} now: other defaults, overrides or code); moved them to "
          f"{target}, so that their rows do not mix with this run's", file=sys.stderr, flush=True)
    return target
