"""Paired differences between cells that differ in one axis value: the comparison the claims need.

Every cell scores the same test utterances, so the difference between two cells' outputs, utterance
by utterance, has a far tighter confidence interval than the two cells' own intervals set side by
side (which is all cells.csv allows). Along each axis, every value is compared with the axis's
reference value (the first in the study file: SGMSE+'s choice, `with`, ...) in every context, that
is every combination of the other axes' values in which both cells exist.

The per-utterance scores live in results/<study>/cells/<hash>/per_utterance.csv (large, not
committed); the differences are kept in results/<study>/pairs.csv (small, committed with a
reference run), so a report rebuilt from a clean checkout still shows them.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.audio.metrics import mean_ci95
from benchmark.report.load import ReportError, Study

COLUMNS = ["axis", "value", "reference", "context", "split", "metric", "mean", "ci95", "n",
           "cell", "reference_cell"]


def _cells(table: pd.DataFrame, study: Study) -> pd.DataFrame:
    diffusion = table[table["kind"] == "diffusion"]
    return diffusion.drop_duplicates("cell", keep="last")[["cell", *study.axes]]


def compute(table: pd.DataFrame, study: Study, cells_dir: Path) -> pd.DataFrame | None:
    """value − reference of each metric's output, per split, over the utterances both cells
    scored; None when no cell's per-utterance file is here."""
    cells = _cells(table, study)
    scores: dict[str, pd.DataFrame | None] = {}

    def load(cell: str) -> pd.DataFrame | None:
        if cell not in scores:
            path = cells_dir / cell / "per_utterance.csv"
            scores[cell] = (pd.read_csv(path, usecols=["split", "name", "metric", "output"])
                            if path.is_file() else None)
        return scores[cell]

    if not any(load(c) is not None for c in cells["cell"]):
        return None
    rows = []
    for axis, order in study.axes.items():
        others = [a for a in study.axes if a != axis]
        references = cells[cells[axis] == order[0]]
        for _, ref in references.iterrows():
            same_context = (cells[others] == ref[others]).all(axis=1) if others else True
            rivals = cells[same_context & (cells[axis] != order[0]) & (cells[axis] != "")]
            context = " · ".join(f"{a}={ref[a]}" for a in others)
            for _, cell in rivals.iterrows():
                a, b = load(cell["cell"]), load(ref["cell"])
                if a is None or b is None:
                    continue
                both = a.merge(b, on=["split", "name", "metric"], suffixes=("", "_ref"))
                both["diff"] = both["output"] - both["output_ref"]
                for (split, metric), group in both.groupby(["split", "metric"], sort=False):
                    mean, ci, n, _ = mean_ci95(group["diff"].to_numpy())
                    rows.append([axis, cell[axis], order[0], context, split, metric, mean, ci, n,
                                 cell["cell"], ref["cell"]])
    return pd.DataFrame(rows, columns=COLUMNS)


def load_or_compute(results: Path, study: Study, table: pd.DataFrame) -> pd.DataFrame | None:
    """Recompute pairs.csv from the per-utterance files when they are here, else read the kept
    one; None when neither exists (the report then falls back to unpaired intervals)."""
    path = results / "pairs.csv"
    pairs = compute(table, study, results / "cells")
    if pairs is not None:
        tmp = path.with_suffix(".csv.tmp")
        pairs.to_csv(tmp, index=False)
        tmp.replace(path)
        return pairs
    if not path.is_file():
        return None
    pairs = pd.read_csv(path, dtype={c: str for c in ("axis", "value", "reference", "context",
                                                      "split", "metric", "cell", "reference_cell")},
                        keep_default_na=False, na_values={"mean": ["", "nan"], "ci95": ["", "nan"]})
    missing = [c for c in COLUMNS if c not in pairs.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}")
    return pairs
