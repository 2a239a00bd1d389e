"""results/<study>/training.csv: each model's learning curve over its last quarter, kept with the results.

A verdict compares models trained to a stated criterion (store.convergence: the validation metric
gained less than store.CONVERGENCE_GAIN over the last quarter of training). The model folders stay
out of git, so the figures the report checks are copied here, one row per training hash, when a
cell's model is trained or reused. The validation set is the first `trainer.val_utterances`
utterances of the validation split; `val_utterances` says how many, since a handful cannot resolve
a gain of 0.02 (the report states it beside the verdict).
"""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from ..durable import locked, write_atomic
from ..store import convergence
from . import ledger

COLUMNS = ("training_hash", "metric", "steps", "from_step", "from_value", "to_value", "gain", "limit",
           "converged", "val_utterances")


def record(out_dir: Path, training_hash: str, folder: Path | None, val_utterances: int) -> dict | None:
    """Put the model's convergence into out_dir/training.csv (replacing its row); None where its
    folder holds no learning curve (trained before curves were kept, or scores taken from elsewhere)."""
    found = convergence(folder) if folder is not None else None
    if found is None:
        return None
    row = {"training_hash": training_hash, **found, "val_utterances": int(val_utterances)}
    path = ledger.training_csv(out_dir)
    with locked(path.with_suffix(".lock")):
        table = read(out_dir)
        table = pd.concat([table[table["training_hash"] != training_hash], pd.DataFrame([row])], ignore_index=True)
        buffer = io.StringIO()
        table.sort_values("training_hash")[list(COLUMNS)].to_csv(buffer, index=False)
        write_atomic(path, buffer.getvalue())
    return row


def read(out_dir: Path) -> pd.DataFrame:
    """training.csv as a table (empty, with its columns, where there is none)."""
    path = ledger.training_csv(out_dir)
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.read_csv(path, dtype={"training_hash": str})
