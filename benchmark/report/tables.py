"""From the tidy cells.csv to the tables a reader compares: a row per cell, a row per axis value.

Every metric here is higher-is-better (PESQ, (E)STOI, SI-SDR/SIR/SAR), so "best" is the maximum.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

MAIN_METRICS = ("pesq_wb", "estoi", "si_sdr")
METRIC_NAMES = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "estoi": "ESTOI", "stoi": "STOI",
                "si_sdr": "SI-SDR (dB)", "si_sir": "SI-SIR (dB)", "si_sar": "SI-SAR (dB)",
                "dnsmos_sig": "DNSMOS SIG", "dnsmos_bak": "DNSMOS BAK", "dnsmos_ovrl": "DNSMOS OVRL"}
DECIMALS = {"pesq_wb": 2, "pesq_nb": 2, "estoi": 3, "stoi": 3, "si_sdr": 2, "si_sir": 2,
            "si_sar": 2, "dnsmos_sig": 2, "dnsmos_bak": 2, "dnsmos_ovrl": 2}
CELL_COLUMNS = ("kind", "label", "training_hash", "nfe", "rtf", "train_steps", "train_minutes",
                "device", "finished_at")
KIND_ORDER = {"diffusion": 0, "predictive": 1, "input": 2}


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def fmt(value: float, metric: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{'+' if signed else ''}.{DECIMALS.get(metric, 3)}f}"


def split_order(table: pd.DataFrame) -> list[str]:
    """'test' first (the matched condition the claims are about), the others as they appear."""
    seen = list(dict.fromkeys(table["split"]))
    return sorted(seen, key=lambda s: (s != "test", seen.index(s)))


def report_metrics(table: pd.DataFrame, primary: str) -> list[str]:
    """The main table's metrics: the primary one first, then PESQ-WB, ESTOI, SI-SDR if present."""
    present = set(table["metric"])
    return [m for m in dict.fromkeys((primary, *MAIN_METRICS)) if m in present]


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    # A resumed study may append a cell twice; the last row written is the one that counts.
    return rows.drop_duplicates(subset=["cell", "split", "metric", "which"], keep="last")


def noisy_reference(table: pd.DataFrame, split: str, metric: str) -> tuple[float, float]:
    """(mean, ci95) of the unprocessed input: its own row when the driver wrote one, else the
    input score that every cell carries for the same utterances."""
    rows = _latest(table[(table["split"] == split) & (table["metric"] == metric)])
    own = rows[rows["kind"] == "input"]
    for which in ("output", "input"):
        hit = own[own["which"] == which]
        if len(hit):
            return float(hit["mean"].iloc[0]), float(hit["ci95"].iloc[0])
    carried = rows[(rows["which"] == "input") & rows["mean"].notna()]
    if not len(carried):
        return math.nan, math.nan
    return float(carried["mean"].median()), float(carried["ci95"].median())


def cell_summary(table: pd.DataFrame, split: str, axes: Sequence[str],
                 metrics: Sequence[str], primary: str) -> pd.DataFrame:
    """One row per cell of `split`: its description, then `<m>`, `<m>_ci`, `<m>_delta`,
    `<m>_delta_ci`, `<m>_n_nan` per metric; sorted by the primary metric, best first."""
    rows = _latest(table[table["split"] == split])
    info_columns = [c for c in (*CELL_COLUMNS, *axes) if c in rows.columns]
    info = rows.groupby("cell", sort=False)[info_columns].first()
    out = info.copy()
    for metric in metrics:
        part = rows[rows["metric"] == metric]
        for which, suffix in (("output", ""), ("delta", "_delta")):
            got = part[part["which"] == which].set_index("cell")
            if which == "output":
                # The input row's "output" is the input itself, whichever way the driver wrote it.
                own = part[(part["kind"] == "input") & (part["which"] == "input")].set_index("cell")
                got = pd.concat([got, own[~own.index.isin(got.index)]])
            out[f"{metric}{suffix}"] = got["mean"].reindex(out.index)
            out[f"{metric}{suffix}_ci"] = got["ci95"].reindex(out.index)
            if which == "output":
                n_nan = got["n_nan"] if "n_nan" in got else pd.Series(dtype=float)
                out[f"{metric}_n_nan"] = n_nan.reindex(out.index)
        out.loc[out["kind"] == "input", [f"{metric}_delta", f"{metric}_delta_ci"]] = math.nan
    out = out.reset_index()
    if primary in metrics:
        out = out.sort_values(primary, ascending=False, na_position="last", kind="stable")
    return out.reset_index(drop=True)


def pooled_ci(cis: pd.Series) -> float:
    """Half-width of a mean of k cell means, treating cells as independent: √(Σ ciᵢ²)/k.
    Cells score the same utterances, so this is an approximation, stated in the report."""
    cis = cis.dropna()
    return float(np.sqrt((cis ** 2).sum()) / len(cis)) if len(cis) else math.nan


def ordered_values(values: Sequence[str], order: Sequence[str]) -> list[str]:
    present = [v for v in dict.fromkeys(values) if v != ""]
    return [v for v in order if v in present] + sorted(v for v in present if v not in order)


def axis_pivot(summary: pd.DataFrame, axis: str, order: Sequence[str],
               metrics: Sequence[str]) -> pd.DataFrame:
    """Per value of `axis`: the mean over the other axes of the diffusion cells' output means,
    with a pooled CI and the number of cells behind it, in the study's value order."""
    cells = summary[(summary["kind"] == "diffusion") & (summary[axis] != "")]
    rows = []
    for value in ordered_values(cells[axis], order):
        group = cells[cells[axis] == value]
        row = {"value": value, "cells": len(group)}
        for metric in metrics:
            row[metric] = float(group[metric].mean()) if group[metric].notna().any() else math.nan
            row[f"{metric}_ci"] = pooled_ci(group[f"{metric}_ci"][group[metric].notna()])
        rows.append(row)
    columns = ["value", "cells", *[c for m in metrics for c in (m, f"{m}_ci")]]
    return pd.DataFrame(rows, columns=columns)


def two_axis_grid(summary: pd.DataFrame, rows_axis: str, columns_axis: str,
                  order: dict[str, list[str]], metric: str) -> pd.DataFrame:
    """Mean output of `metric` per (row value, column value), averaged over any other axes;
    NaN where no cell has finished."""
    cells = summary[(summary["kind"] == "diffusion") & (summary[rows_axis] != "")
                    & (summary[columns_axis] != "")]
    grid = cells.groupby([rows_axis, columns_axis])[metric].mean().unstack(columns_axis)
    return grid.reindex(index=ordered_values(cells[rows_axis], order[rows_axis]),
                        columns=ordered_values(cells[columns_axis], order[columns_axis]))


def best_flags(values: pd.Series) -> pd.Series:
    """True where a value equals the column's best (ties all marked); all False if none is."""
    if not values.notna().any():
        return pd.Series(False, index=values.index)
    return values == values.max()


def grid_points(study) -> list[tuple[str, ...]]:
    """The study's diffusion cells as tuples of axis values: the product of the axes minus its
    `exclude` entries, plus its `extra` cells (which carry their own labels)."""
    raw = study.raw or {}
    axes = list(study.axes)
    excludes = [{str(a): str(v) for a, v in e.items()} for e in raw.get("exclude") or []]
    points = [combo for combo in itertools.product(*study.axes.values())
              if not any(all(dict(zip(axes, combo)).get(a) == v for a, v in e.items())
                         for e in excludes)]
    for extra in raw.get("extra") or []:
        labels = extra.get("axes") or {}
        points.append(tuple(str(labels.get(a, "")) for a in axes))
    return points


def missing_points(table: pd.DataFrame, study) -> list[str]:
    """The study's diffusion grid points with no row in `table` yet (a run still going, or
    stopped part-way), each as "axis=value · …"."""
    cells = table[table["kind"] == "diffusion"].drop_duplicates("cell")
    done = set(map(tuple, cells[list(study.axes)].to_numpy().tolist()))
    return [" · ".join(f"{a}={v}" for a, v in zip(study.axes, point))
            for point in grid_points(study) if point not in done]
