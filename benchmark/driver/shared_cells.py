"""A cell that another study has already scored is read, not enhanced and scored again.

A cell's hash is that of its whole configuration (model, sampler, data, evaluation), not of the study
that asks for it, so two studies may hold the same cell: drift_and_prior repeats five of
sde_ablation's (its 'embedded' sampler on the same models, and the predictive baseline), about ten
minutes of enhancing and scoring on 2 cores. The per-utterance table the first study kept under
results/<study>/cells/<hash>/ is the same table the second would compute (enhancement is
deterministic for a given seed), so the second study takes it: its rows, conditions, MLflow run and
report are built from it as from a fresh evaluation, under its own study name. Only a cell that the
other study finished over the same splits (its rows in that study's cells.csv) is taken; a
superseded folder (supersede.py) never is.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..data import eval_splits
from . import ledger


@dataclass
class Shared:
    study: str                  # the study whose folder holds the scores
    folder: Path                # results/<study>/cells/<hash>
    timing: dict                # split -> nfe, rtf, from that study's cells.csv
    table: pd.DataFrame | None = None   # per-utterance scores with `split` and the condition tags
    train: dict | None = None           # the model's steps and minutes as that study recorded them
    device: str | None = None           # where that study scored it, and on which weights
    weights: str | None = None


def done_cells(out_dir: Path) -> set[str]:
    """Cells with rows in out_dir/cells.csv (a run finished them)."""
    try:
        return set(pd.read_csv(ledger.cells_csv(out_dir), dtype={"cell": str}, usecols=["cell"])["cell"])
    except (OSError, ValueError):
        return set()


def scored_whole(cell, rows: pd.DataFrame, folder: Path) -> bool:
    """Whether `rows` (the cell's in a cells.csv) cover every split it is evaluated on and `folder`
    holds its per-utterance scores: a cell finished there, whose scores can be read back."""

    return (sorted(rows["split"].unique()) == sorted(eval_splits(cell.config.data, cell.config.eval.splits))
            and (folder / ledger.PER_UTTERANCE).is_file())


def sources(results: Path, study: str, cells) -> dict[str, Shared]:
    """hash -> where another current study finished that cell over the same splits (tables not read).
    One read of each other study's cells.csv, whatever the number of cells: the cells bar asks every
    few seconds. The hash is trusted as a study's own resume trusts it."""

    wanted = {c.hash: c for c in cells}
    found: dict[str, Shared] = {}
    others = sorted(d for d in Path(results).glob("*/cells.csv") if d.parent.name != study
                    and ".superseded-" not in d.parent.name) if wanted else []
    for path in others:
        try:
            rows = pd.read_csv(path, dtype={"cell": str, "split": str},
                               usecols=lambda c: c in ("cell", "split", "nfe", "rtf", "train_steps", "train_minutes",
                                                       "device", "weights"))
        except (OSError, ValueError):
            continue
        for h, mine in rows[rows["cell"].isin(wanted.keys() - found.keys())].groupby("cell"):
            folder = ledger.cell_dir(path.parent, h)
            if scored_whole(wanted[h], mine, folder):
                first = mine.iloc[0]
                found[h] = Shared(path.parent.name, folder, {
                    split: {"nfe": float(r["nfe"].iloc[0]), "rtf": float(r["rtf"].iloc[0])}
                    for split, r in mine.groupby("split")},
                    train={k: _plain(first.get(f"train_{k}")) for k in ("steps", "minutes")},
                    device=_plain(first.get("device")), weights=_plain(first.get("weights")))
    return found


def _plain(v):
    return None if v is None or v != v else v.item() if hasattr(v, "item") else v


def read(shared: Shared | None) -> Shared | None:
    """`shared` (an entry of `sources`) with its per-utterance table read, or None."""
    if shared is None:
        return None
    try:
        shared.table = pd.read_csv(shared.folder / ledger.PER_UTTERANCE, dtype={"name": str, "split": str})
    except (OSError, ValueError):       # a half-copied folder: evaluate afresh
        return None
    return shared


def copy_examples(shared: Shared, folder: Path) -> None:
    """The listening examples go with the scores (their PNG titles keep the other study's label)."""
    source = shared.folder / "examples"
    if source.is_dir():
        shutil.copytree(source, folder / "examples", dirs_exist_ok=True)
