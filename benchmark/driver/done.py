"""When a cell is done in a results folder, and when a model is trained: one owner of both rules.

A cell is done in results/<study> when that folder's cells.csv holds its rows for every split it is
evaluated on (data.eval_splits of its configuration) and cells/<hash>/per_utterance.csv is there.
Everything that asks goes through here: the run, which enters such a cell in the queue as COMPLETE
instead of running it again (recover.py); --dry-run's "N done" and its per-cell action, and the
price (coordinator.dry_run, price.py); and a study taking another study's scores (shared_cells.py).

There were two rules. The dry run and the price counted a cell done as soon as cells.csv had any row
of it; the run also asked for every split and the per-utterance file. On a folder whose cells.csv
had rows but no per-utterance files, --dry-run said "10 done ... 0 to train" and the run then said
"0 done, 10 queued" and trained again. The run's rule is the one kept: a cell without its
per-utterance scores cannot be taken by another study nor paired, and a run killed between the two
writes leaves exactly that; a cell short of a split was scored on less than its configuration asks
(a split added since, or `real` once its packages are installed). The run scores such cells again,
so a price or a dry run that called them done would promise what the run does not do.

The report is not a user: it shows what cells.csv measured, means and CIs, and pairs only where
per-utterance files are (report/scorecard.py finds them), so a cell the run would redo still shows.

A model is trained when its folder holds a readable done.json, written last by a finished training
(store.py owns the folder: mark_done, model_done); `model_trained` is that test, under one name.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data import eval_splits
from ..store import model_done
from . import ledger


def finished(out_dir: Path, cells) -> dict[str, pd.DataFrame]:
    """hash -> its rows in out_dir/cells.csv (as text, as the queue keeps them), for each cell of
    `cells` done there. One read of cells.csv, whatever the number of cells: the price asks every
    few seconds while a study runs."""
    try:
        table = pd.read_csv(ledger.cells_csv(out_dir), dtype=str, keep_default_na=False)
    except (OSError, ValueError):               # absent, empty or torn: nothing is done there
        return {}
    if not {"cell", "split"} <= set(table.columns):
        return {}
    wanted = {c.hash: c for c in cells}
    return {h: rows for h, rows in table[table["cell"].isin(wanted.keys())].groupby("cell")
            if _whole(wanted[h], rows, ledger.cell_dir(out_dir, h))}


def done_hashes(out_dir: Path, cells) -> set[str]:
    """The hashes of the cells of `cells` done in out_dir."""
    return set(finished(out_dir, cells))


def model_trained(folder: Path) -> bool:
    """Whether the model folder holds a finished, exported training."""
    return model_done(folder)


def _whole(cell, rows: pd.DataFrame, folder: Path) -> bool:
    return (set(rows["split"]) == set(eval_splits(cell.config.data, cell.config.eval.splits))
            and (folder / ledger.PER_UTTERANCE).is_file())
