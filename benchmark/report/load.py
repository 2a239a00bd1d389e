"""Read what a report is made from: the study file, its tidy cells.csv and meta.json.

The study driver owns both formats; this module only checks the parts the report relies on, so
a schema drift fails here with the file and the column named, not deep inside a plot.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

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
    data = raw.get("data") if isinstance(raw.get("data"), str) else _find_data_override(raw)
    return Study(name=str(raw["name"]), title=str(raw["title"]), claim=str(raw["claim"]).strip(),
                 axes=order, primary_metric=str(raw.get("primary_metric") or "pesq_wb"),
                 question=(str(raw["question"]).strip() if raw.get("question") else None),
                 data=data, path=path, raw=raw)


def load_cells(path: Path, study: Study) -> pd.DataFrame:
    """The tidy table, axis columns as text ('' where a row has no value), numbers as floats."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no results yet (cells.csv not found)")
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
