"""Read what a report is made from: the study file, its tidy cells.csv and meta.json.

The study driver owns both formats; this module only checks the parts the report relies on, so
a schema drift fails here with the file and the column named, not deep inside a plot.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from benchmark.driver import ledger
from benchmark.driver.condition_scores import CONDITIONS
from benchmark.driver.study_contrast import contrast_problem

REQUIRED_COLUMNS = ("cell", "kind", "label", "split", "metric", "which", "mean", "ci95", "nfe")
NUMERIC_COLUMNS = ("mean", "ci95", "n", "n_nan", "nfe", "rtf", "train_steps", "train_minutes")
KINDS = ("diffusion", "predictive", "input")
WHICH = ("input", "output", "delta")
DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "configs" / "defaults.yaml"


class ReportError(ValueError):
    """Input the report cannot be built from; the message names the file and the problem."""


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    claim: str
    axes: dict[str, list[str]]          # axis name -> value labels in the study file's order
    primary_metric: str = "pesq_wb"
    question: str | None = None
    data: str | None = None             # data group named by the study (data=vbdmd), if any
    path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False)
    contrast: dict | None = None        # {control: {axis: label}, treatment: {…}}: contrast.py


def _find_data_override(node) -> str | None:
    """First `data=<name>` override anywhere in a study file or command line."""
    if isinstance(node, str):
        match = re.search(r"(?:^|\s)data=([\w-]+)", node)
        return match.group(1) if match else None
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for item in items:
        found = _find_data_override(item)
        if found:
            return found
    return None


def load_study(path: Path) -> Study:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: study file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ReportError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise ReportError(f"{path}: a study file must be a mapping, got {type(raw).__name__}")
    for key in ("name", "title", "claim", "axes"):
        if key not in raw:
            raise ReportError(f"{path}: missing key {key!r}")
    axes = raw["axes"]
    if not isinstance(axes, dict) or not axes:
        raise ReportError(f"{path}: 'axes' must map each axis name to its values")
    order = {}
    for axis, values in axes.items():
        if not isinstance(values, dict) or not values:
            raise ReportError(f"{path}: axis {axis!r} must map value labels to override lists")
        # YAML may read a label such as 8 or 1.5 as a number; the CSV holds it as text.
        order[str(axis)] = [str(label) for label in values]
    problem = contrast_problem(raw)
    if problem:
        raise ReportError(f"{path}: {problem}")
    data = raw.get("data") if isinstance(raw.get("data"), str) else _find_data_override(raw)
    return Study(name=str(raw["name"]), title=str(raw["title"]), claim=str(raw["claim"]).strip(),
                 axes=order, primary_metric=str(raw.get("primary_metric") or "pesq_wb"),
                 question=(str(raw["question"]).strip() if raw.get("question") else None),
                 data=data, path=path, raw=raw,
                 contrast=({role: {str(a): str(v) for a, v in arm.items()} for role, arm in raw["contrast"].items()}
                           if isinstance(raw.get("contrast"), dict) else None))


def _read_text(path: Path, what: str) -> str:
    if path.exists() and not path.is_file():
        raise ReportError(f"{path}: {what} is a folder, not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ReportError(f"{path}: not a readable CSV ({err})") from err
    except OSError as err:
        raise ReportError(f"{path}: {what} cannot be read ({err.strerror})") from err


def torn_row(path: Path, text: str) -> None:
    """Refuse a CSV cut short. The driver writes cells.csv whole and renamed into place, and
    per_utterance.csv whole, both ending in a newline: a last line without one, or a row with
    another field count than the header (pandas pads a short row with NaN without a word), means
    the file was cut (a copy, a sync or a full disk), and rows after the cut are lost unseen."""
    if text and not text.endswith("\n"):
        line = text.count("\n") + 1
        raise ReportError(f"{path}: line {line}: torn last row (no newline at its end): the file was "
                          "cut short, and what followed is lost; restore the file whole")
    rows = csv.reader(io.StringIO(text))
    header = next(rows, [])
    for row in rows:
        if row and len(row) != len(header):
            raise ReportError(f"{path}: line {rows.line_num}: torn row ({len(row)} fields where the header "
                              f"has {len(header)}): the file was cut or damaged; restore it whole")


def load_cells(path: Path, study: Study) -> pd.DataFrame:
    """The tidy table, axis columns as text ('' where a row has no value), numbers as floats."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no results yet (cells.csv not found)")
    # Refused, not read around: a lost row is a lost cell that the page would list as "not yet in the
    # table", and its paired tests and bold marks would be made without it.
    torn_row(path, _read_text(path, "cells.csv"))
    text_columns = {c: str for c in ("cell", "training_hash", "kind", "label", "split", "metric",
                                     "which", "device", "finished_at", *study.axes)}
    try:
        table = pd.read_csv(path, dtype=text_columns, keep_default_na=False,
                            na_values={c: ["", "nan", "NaN"] for c in NUMERIC_COLUMNS})
    except pd.errors.EmptyDataError as err:
        raise ReportError(f"{path}: empty file, not even a header row") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in (*REQUIRED_COLUMNS, *study.axes) if c not in table.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}; the study's axes are "
                          f"{list(study.axes)}")
    for column in NUMERIC_COLUMNS:
        if column in table.columns:
            converted = pd.to_numeric(table[column], errors="coerce")
            bad = table[column].notna() & converted.isna()
            if bad.any():
                row = int(bad.idxmax()) + 2      # +1 for the header, +1 for 1-based lines
                raise ReportError(f"{path}: line {row}: column {column!r} is not a number "
                                  f"({table[column][bad].iloc[0]!r})")
            table[column] = converted.astype(float)
    for column, allowed in (("kind", KINDS), ("which", WHICH)):
        bad = ~table[column].isin(allowed)
        if bad.any():
            row = int(bad.idxmax()) + 2
            raise ReportError(f"{path}: line {row}: {column} {table[column][bad].iloc[0]!r} is "
                              f"not one of {list(allowed)}")
    return table


def check_per_utterance(path: Path, rows: pd.DataFrame, said_by: str = "cells.csv") -> None:
    """Refuse a cell's per_utterance.csv that is torn, holds a score that is not a number, or holds
    another count of utterances than its rows of cells.csv (`rows`: the cell's rows, from `said_by`)
    say it scored.

    Refused rather than the cell left out: its scores feed every paired test of its split (the
    Holm family, the 'not distinguishable from the best' bold), so leaving it out changes the other
    cells' marks too, and a page built around a hole reads as complete. The file is the run's
    record: restore it (git, or rerun the cell) and rebuild."""
    path = Path(path)
    text = _read_text(path, "per_utterance.csv")
    torn_row(path, text)
    try:
        scores = pd.read_csv(io.StringIO(text), dtype={"split": str, "name": str, "metric": str},
                             keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise ReportError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from err
    missing = [c for c in ("split", "name", "metric", "output") if c not in scores.columns]
    if missing:
        raise ReportError(f"{path}: missing column(s) {missing}")
    output = scores["output"].astype(str).str.strip()
    bad = pd.to_numeric(output, errors="coerce").isna() & ~output.str.lower().isin(("", "nan"))
    if bad.any():
        raise ReportError(f"{path}: line {int(bad.idxmax()) + 2}: output {output[bad].iloc[0]!r} is not a number")
    counts = scores.groupby(["split", "metric"]).size()
    if "n" not in rows:                   # a table from before the counts were kept: nothing to hold it to
        return
    recorded = rows[rows["which"] == "output"].drop_duplicates(["split", "metric"], keep="last")
    for _, row in recorded.iterrows():
        expected = row["n"] + (row["n_nan"] if pd.notna(row.get("n_nan")) else 0)
        found = int(counts.get((row["split"], row["metric"]), 0))
        if pd.notna(expected) and found != expected:
            raise ReportError(f"{path}: {found} rows of split {row['split']!r}, metric {row['metric']!r} where "
                              f"{said_by} says the cell scored {expected:g} utterances: a truncated or "
                              "stale file; restore it whole (or rerun the cell) and rebuild")


def check_scores(folder: Path, table: pd.DataFrame) -> None:
    """check_per_utterance for each cell of `table` whose file is in `folder` (results/<study>)."""
    for cell, rows in table.groupby("cell", sort=False):
        path = ledger.per_utterance(folder, str(cell))
        if path.exists():
            check_per_utterance(path, rows, str(Path(folder) / "cells.csv"))


def scores(path: Path) -> pd.DataFrame:
    """A cell's per_utterance.csv: split, name, metric and the `cond_*` tags as text ('' where an
    utterance is untagged), input, output and delta as numbers. Every section of a page and every
    study of the scorecard asks for the same files, per metric and per split: each is read once
    (keyed by its stamp, so a file rewritten by a running study is read again). The frame is
    shared: take a selection, never write into it."""
    stat = Path(path).stat()
    return _scores(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _scores(path: str, _mtime_ns: int, _size: int) -> pd.DataFrame:
    text = {c: str for c in ("split", "name", "metric", *(f"cond_{c}" for c in CONDITIONS))}
    frame = pd.read_csv(path, dtype=text)
    tags = [f"cond_{c}" for c in CONDITIONS if f"cond_{c}" in frame]
    frame[tags] = frame[tags].fillna("")
    return frame


def load_meta(path: Path) -> dict:
    """meta.json, or {} when the driver has not written it yet (the footer then says so)."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(meta, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def data_name(study: Study, meta: dict) -> str:
    """The data group the numbers are on: meta, then the study, then the suite's default."""
    for candidate in (meta.get("data"), study.data, _find_data_override(meta.get("command", ""))):
        if isinstance(candidate, dict):
            candidate = candidate.get("name")
        if candidate:
            return str(candidate)
    if DEFAULTS_FILE.is_file():
        default = (yaml.safe_load(DEFAULTS_FILE.read_text()) or {}).get("data")
        if isinstance(default, str):
            return default
    return "unknown"
