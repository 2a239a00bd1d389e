"""The page's table rows: each cell, axis value and paired difference as the template shows it
(formatted numbers, bold flags, signs, p-values), from the summaries tables.py and paired_stats.py
compute. build.py decides what goes on the page; this file only says how a row reads."""
from __future__ import annotations

import math

import pandas as pd

from benchmark.report import costs, paired_stats, tables
from benchmark.report.load import Study


def number(value, decimals: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{decimals}f}"


def bold_flags(summary: pd.DataFrame, split: str, metrics: list[str],
               vs_best: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Per metric, the cells shown bold: those not distinguishable from the best by a paired test
    (paired_stats.tied_with_best) where the per-utterance tests are at hand, else the best value only."""
    out = {}
    for m in metrics:
        tied = paired_stats.tied_with_best(vs_best, split, m)
        out[m] = (summary["cell"].isin(tied) & (summary["kind"] != "input") if tied
                  else tables.best_flags(summary[m]))
    return out


def main_rows(summary: pd.DataFrame, study: Study, metrics: list[str],
               best: dict[str, pd.Series], table: pd.DataFrame | None = None) -> list[dict]:
    rows = []
    _, rtf = costs.table_columns(summary, table)              # a column per host: RTFs of two hosts never share one
    for (index, cell), rtf_by_host in zip(summary.iterrows(), rtf):
        scores = []
        for m in metrics:
            ci, n_nan = cell[f"{m}_ci"], cell[f"{m}_n_nan"]
            scores.append({
                "mean": tables.fmt(cell[m], m),
                "ci": tables.fmt(ci, m) if isinstance(ci, float) and math.isfinite(ci) else "",
                "delta": ("" if cell["kind"] == "input"
                          else tables.fmt(cell[f"{m}_delta"], m, signed=True)),
                "best": bool(best[m][index]),
                "n_nan": int(n_nan) if isinstance(n_nan, float) and n_nan > 0 else 0,
            })
        rows.append({"kind": cell["kind"], "label": cell["label"], "cell": cell["cell"],
                     "axes": [cell[a] or "—" for a in study.axes],
                     "nfe": number(cell.get("nfe")), "rtf": rtf_by_host, "scores": scores})
    return rows


def pivots(summary: pd.DataFrame, study: Study, metrics: list[str]) -> list[dict]:
    out = []
    for axis, order in study.axes.items():
        pivot = tables.axis_pivot(summary, axis, order, metrics)
        if pivot.empty:
            continue
        best = {m: tables.best_flags(pivot[m]) for m in metrics}
        rows = [{"value": row["value"], "cells": int(row["cells"]),
                 "scores": [{"mean": tables.fmt(row[m], m),
                             "ci": tables.fmt(row[f"{m}_ci"], m)
                             if math.isfinite(row[f"{m}_ci"]) else "",
                             "best": bool(best[m][i])} for m in metrics]}
                for i, row in pivot.iterrows()]
        out.append({"axis": axis, "rows": rows})
    return out


def paired(pairs: pd.DataFrame | None, study: Study, metrics: list[str]) -> list[dict]:
    """Per axis: each value − the reference value, context by context, per metric."""
    if pairs is None or pairs.empty:
        return []
    out = []
    for axis in study.axes:
        rows = []
        part = pairs[pairs["axis"] == axis]
        for (value, reference, context), group in part.groupby(["value", "reference", "context"],
                                                               sort=False):
            by_metric = group.set_index("metric")
            scores = []
            for m in metrics:
                if m not in by_metric.index:
                    scores.append({"text": "", "sign": "", "p": ""})
                    continue
                mean, ci = float(by_metric.at[m, "mean"]), float(by_metric.at[m, "ci95"])
                p_holm = float(by_metric.at[m, "p_holm"]) if "p_holm" in by_metric else math.nan
                sign = {1: "up", -1: "down", 0: ""}[paired_stats.verdict(mean, ci, p_holm)]
                mark = paired_stats.CI_MARK if paired_stats.by_ci(p_holm) and math.isfinite(ci) else ""
                scores.append({"text": tables.fmt(mean, m, signed=True)
                               + (f" ± {tables.fmt(ci, m)}" if math.isfinite(ci) else ""), "sign": sign,
                               "p": paired_stats.p_text(p_holm) or mark})
            rows.append({"value": value, "reference": reference, "context": context or "—",
                         "n": number(float(group["n"].max())), "scores": scores})
        if rows:
            out.append({"axis": axis, "rows": rows})
    return out
