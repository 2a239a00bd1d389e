"""The results folder's layout, one owner: every path under `--results` is named here.

    <results>/
      models/<training hash>/      model folders (store.py owns what is inside), unless --models
      mlflow.db  mlartifacts/      the default MLflow store (tracking.py)
      input_scores/                the noisy input's scores, once per dataset and split
      costs.json                   measured unit costs of this device (price.py)
      .stores.lock                 held while stores, the parent run and the queue are set up
      <study>/
        cells.csv  conditions.csv  the tidy tables the report reads
        training.csv               each model's convergence over the last quarter (training_record.py)
        meta.json                  each invocation's record (invocations.py)
        optuna.journal             the queue, when no --storage is given (queue.py)
        pairs.csv  vs_best.csv     paired differences, kept by the report
        cells/<cell hash>/         per_utterance.csv, summary.csv, config.yaml, examples, partial/
"""
from __future__ import annotations

from pathlib import Path

CELLS_CSV, CONDITIONS_CSV, META_JSON, JOURNAL = "cells.csv", "conditions.csv", "meta.json", "optuna.journal"
TRAINING_CSV = "training.csv"
PER_UTTERANCE, PAIRS_CSV = "per_utterance.csv", "pairs.csv"
TABLES = {"rows": CELLS_CSV, "condition_rows": CONDITIONS_CSV}   # queue attribute -> the table it rebuilds


def models_root(results: Path, models: Path | str | None = None) -> Path:
    return Path(models) if models else Path(results) / "models"


def mlartifacts(results: Path) -> Path:
    return Path(results) / "mlartifacts"


def mlflow_db(results: Path) -> Path:
    return Path(results) / "mlflow.db"


def input_scores(results: Path) -> Path:
    return Path(results) / "input_scores"


def costs(results: Path) -> Path:
    return Path(results) / "costs.json"


def stores_lock(results: Path) -> Path:
    return Path(results) / ".stores.lock"


def study_dir(results: Path, study: str) -> Path:
    return Path(results) / study


def cells_csv(out_dir: Path) -> Path:
    return Path(out_dir) / CELLS_CSV


def conditions_csv(out_dir: Path) -> Path:
    return Path(out_dir) / CONDITIONS_CSV


def training_csv(out_dir: Path) -> Path:
    return Path(out_dir) / TRAINING_CSV


def meta_json(out_dir: Path) -> Path:
    return Path(out_dir) / META_JSON


def journal(out_dir: Path) -> Path:
    return Path(out_dir) / JOURNAL


def pairs_csv(out_dir: Path) -> Path:
    return Path(out_dir) / PAIRS_CSV


def cells_dir(out_dir: Path) -> Path:
    return Path(out_dir) / "cells"


def cell_dir(out_dir: Path, cell_hash: str) -> Path:
    return cells_dir(out_dir) / cell_hash


def per_utterance(out_dir: Path, cell_hash: str) -> Path:
    return per_utterance_under(cells_dir(out_dir), cell_hash)


def per_utterance_under(cells: Path, cell_hash: str) -> Path:
    """The same file for a caller holding the study's cells folder (the report's pages)."""
    return Path(cells) / str(cell_hash) / PER_UTTERANCE


def partial_dir(out_dir: Path, cell_hash: str) -> Path:
    """A killed evaluation's work (partial.py)."""
    return cell_dir(out_dir, cell_hash) / "partial"
