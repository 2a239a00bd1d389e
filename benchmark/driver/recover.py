"""A cell done in its results folder (done.py) is done, whatever the queue remembers.

The queue (an Optuna journal or database) says which cells are done, and a run in progress keeps
its journal in git for the next session. When a session ends before that commit, the next machine
has the committed cells.csv and each finished cell's per_utterance.csv, which the run wrote, but no
journal: every cell would be queued again and the finished ones enhanced and scored again (hours at
NFE 60), their rows appended a second time. So before queueing, a cell of the grid that has rows in
cells.csv for every split it is evaluated on, and its per-utterance file, is entered in the queue as
COMPLETE with those rows (done.py owns that rule; --dry-run and the price count by it too), as if
its worker had just told it (worker._evaluate): the rows attribute lets other machines rebuild the
tables (cell.sync_tables), the value is the primary metric. Its MLflow run, if any, stays in the
store it was logged to.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import ledger
from .cell import objective, rows_attr
from .done import finished


def recover_finished(study, cells, out_dir: Path, primary: str = "pesq_wb") -> list[str]:
    """Enter as COMPLETE each cell done in out_dir (done.py) that the queue does not hold as COMPLETE;
    returns their hashes."""
    import optuna  # lazily: keeps --help and --dry-run light
    from optuna.trial import TrialState

    complete = {t.user_attrs.get("cell") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    todo = {c.hash: c for c in cells if c.hash not in complete}
    found = finished(out_dir, todo.values())
    try:
        conditions = pd.read_csv(ledger.conditions_csv(out_dir), dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        conditions = pd.DataFrame({"cell": []})
    for h, rows in found.items():
        c = todo[h]
        attrs = {"cell": h, "training_hash": c.training_hash, "label": c.label,
                 "rows": rows_attr(rows), "recovered_from": ledger.CELLS_CSV}
        by_condition = conditions[conditions["cell"] == h]
        if len(by_condition):
            attrs["condition_rows"] = rows_attr(by_condition)
        value = objective(rows.assign(mean=pd.to_numeric(rows["mean"], errors="coerce")), primary)
        study.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=value,
                                                  user_attrs=attrs))
    return list(found)
