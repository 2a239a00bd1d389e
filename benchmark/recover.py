"""A cell whose rows are in cells.csv is done, whatever the queue remembers.

The queue (an Optuna journal or database) says which cells are done, and a run in progress keeps
its journal in git for the next session. When a session ends before that commit, the next machine
has the committed cells.csv and each finished cell's per_utterance.csv, which the run wrote, but no
journal: every cell would be queued again and the finished ones enhanced and scored again (hours at
NFE 60), their rows appended a second time. So before queueing, a cell of the grid that has rows in
cells.csv for every split it is evaluated on, and its per-utterance file, is entered in the queue as
COMPLETE with those rows, as if its worker had just told it (worker._evaluate): the rows attribute
lets other machines rebuild the tables (cell.sync_tables), the value is the primary metric.
Its MLflow run, if any, stays in the store it was logged to.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def finished_rows(out_dir: Path, cells) -> dict[str, pd.DataFrame]:
    """hash -> its rows in out_dir/cells.csv, for cells of `cells` finished there over all their splits."""
    from .data import eval_splits

    try:
        table = pd.read_csv(out_dir / "cells.csv", dtype={"cell": str, "training_hash": str})
    except (OSError, ValueError):
        return {}
    found = {}
    for c in cells:
        mine = table[table["cell"] == c.hash]
        want = set(eval_splits(c.config.data, c.config.eval.splits))
        if len(mine) and want <= set(mine["split"]) and (out_dir / "cells" / c.hash / "per_utterance.csv").is_file():
            found[c.hash] = mine
    return found


def recover_finished(study, cells, out_dir: Path, primary: str = "pesq_wb") -> list[str]:
    """Enter as COMPLETE each cell finished in cells.csv that the queue does not hold as COMPLETE;
    returns their hashes."""
    import optuna
    from optuna.trial import TrialState

    from .cell import objective, rows_attr

    complete = {t.user_attrs.get("cell") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    todo = [c for c in cells if c.hash not in complete]
    found = finished_rows(out_dir, todo)
    try:
        conditions = pd.read_csv(out_dir / "conditions.csv", dtype={"cell": str, "training_hash": str})
    except (OSError, ValueError):
        conditions = None
    for c in todo:
        rows = found.get(c.hash)
        if rows is None:
            continue
        attrs = {"cell": c.hash, "training_hash": c.training_hash, "label": c.label,
                 "rows": rows_attr(rows), "recovered_from": "cells.csv"}
        if conditions is not None and "cell" in conditions and (conditions["cell"] == c.hash).any():
            attrs["condition_rows"] = rows_attr(conditions[conditions["cell"] == c.hash])
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=objective(rows, primary),
                                                  user_attrs=attrs))
    return [c.hash for c in todo if c.hash in found]
