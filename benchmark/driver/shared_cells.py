"""A cell that another study has already scored is read, not enhanced and scored again.

A cell's hash is that of its whole configuration (model, sampler, data, evaluation), not of the study
that asks for it, so two studies may hold the same cell: drift_and_prior repeats five of
sde_ablation's (its 'embedded' sampler on the same models, and the predictive baseline), about ten
minutes of enhancing and scoring on 2 cores. The per-utterance table the first study kept under
results/<study>/cells/<hash>/ is the same table the second would compute (enhancement is
deterministic for a given seed), so the second study takes it: its rows, conditions, MLflow run and
report are built from it as from a fresh evaluation, under its own study name. Only a cell done in
the other study's folder is taken, by the rule a study's own resume uses (done.py: its rows for
every split, and its per-utterance file); a superseded folder (supersede.py) never is.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import ledger
from .done import finished


@dataclass
class Shared:
    study: str                  # the study whose folder holds the scores
    folder: Path                # results/<study>/cells/<hash>
    timing: dict                # split -> nfe, rtf, from that study's cells.csv
    table: pd.DataFrame | None = None   # per-utterance scores with `split` and the condition tags
    train: dict | None = None           # the model's steps and minutes as that study recorded them
    device: str | None = None           # where that study scored it, and on which weights
    weights: str | None = None


def sources(results: Path, study: str, cells) -> dict[str, Shared]:
    """hash -> where another current study finished that cell over the same splits (tables not read).
    One read of each other study's cells.csv, whatever the number of cells: the cells bar asks every
    few seconds. The hash is trusted as a study's own resume trusts it."""

    wanted = {c.hash: c for c in cells}
    found: dict[str, Shared] = {}
    others = sorted(d.parent for d in Path(results).glob("*/cells.csv") if d.parent.name != study
                    and ".superseded-" not in d.parent.name) if wanted else []
    for other in others:
        left = [c for h, c in wanted.items() if h not in found]
        for h, mine in (finished(other, left) if left else {}).items():
            first = mine.iloc[0]
            found[h] = Shared(other.name, ledger.cell_dir(other, h), {
                split: {"nfe": float(r["nfe"].iloc[0] or "nan"), "rtf": float(r["rtf"].iloc[0] or "nan")}
                for split, r in mine.groupby("split")},
                train={k: _number(first.get(f"train_{k}")) for k in ("steps", "minutes")},
                device=first.get("device") or None, weights=first.get("weights") or None)
    return found


def _number(text: str | None) -> int | float | None:
    """A cells.csv figure read as text: what it held ('8' an int, '0.5' a float), None where blank."""
    if text is None or text.strip().lower() in ("", "nan"):
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


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
