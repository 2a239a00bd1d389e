"""A cell that another study has already scored is read, not enhanced and scored again.

A cell's hash is that of its whole configuration (model, sampler, data, evaluation), not of the study
that asks for it, so two studies may hold the same cell: drift_and_prior repeats five of
sde_ablation's (its 'embedded' sampler on the same models, and the predictive baseline), about ten
minutes of enhancing and scoring on 2 cores. The per-utterance table the first study kept under
results/<study>/cells/<hash>/ is the same table the second would compute (enhancement is
deterministic for a given seed), so the second study takes it: its rows, conditions, MLflow run and
report are built from it as from a fresh evaluation, under its own study name. Only a cell that the
other study finished (its rows in that study's cells.csv) and whose saved configuration equals this
one is taken; a superseded folder (supersede.py) never is.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf


@dataclass
class Shared:
    study: str                  # the study whose folder holds the scores
    folder: Path                # results/<study>/cells/<hash>
    table: pd.DataFrame         # per-utterance scores with `split` and the condition tags
    timing: dict                # split -> nfe, rtf, utterances (no minutes: nothing ran here)


def done_cells(out_dir: Path) -> set[str]:
    """Cells with rows in out_dir/cells.csv (a run finished them)."""
    try:
        return set(pd.read_csv(out_dir / "cells.csv", dtype={"cell": str}, usecols=["cell"])["cell"])
    except (OSError, ValueError):
        return set()


def find(results: Path, study: str, cell, splits) -> Shared | None:
    """Another study's finished scores of `cell` over exactly `splits`, or None."""
    want = OmegaConf.to_container(cell.config, resolve=True)
    for folder in sorted(Path(results).glob(f"*/cells/{cell.hash}")):
        other = folder.parent.parent
        if other.name == study or ".superseded-" in other.name or cell.hash not in done_cells(other):
            continue
        try:
            if OmegaConf.to_container(OmegaConf.load(folder / "config.yaml"), resolve=True) != want:
                continue
            table = pd.read_csv(folder / "per_utterance.csv", dtype={"name": str, "split": str})
            summary = pd.read_csv(folder / "summary.csv", dtype={"cell": str})
        except (OSError, ValueError):       # a half-copied folder: evaluate afresh
            continue
        if sorted(table["split"].unique()) != sorted(splits):
            continue
        timing = {}
        for split, rows in summary.groupby("split"):
            timing[split] = {"nfe": float(rows["nfe"].iloc[0]), "rtf": float(rows["rtf"].iloc[0]),
                             "utterances": int((table["split"] == split).sum())}
        return Shared(other.name, folder, table, timing)
    return None


def copy_examples(shared: Shared, folder: Path) -> None:
    """The listening examples go with the scores (their PNG titles keep the other study's label)."""
    source = shared.folder / "examples"
    if source.is_dir():
        shutil.copytree(source, folder / "examples", dirs_exist_ok=True)


def reusable(results: Path, study: str, cells, splits_of) -> set[str]:
    """Hashes of `cells` that find() would take: the price counts them as done."""
    return {c.hash for c in cells if find(results, study, c, splits_of(c)) is not None}
