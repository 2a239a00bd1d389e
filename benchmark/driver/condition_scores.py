"""Scores by condition: input-SNR band, noise type and speaker group, from the data's metadata.

Generative systems often fail at low SNR first, and a mean over a split hides it. Each scored
utterance is tagged from its metadata row (synthetic: `snr_db`, `noise`, `accent`; the real split:
`snr_db`, `noise` (the recording), `speech_package`), and every cell writes its means per
condition value into results/<study>/conditions.csv beside cells.csv:

    study, cell, kind, label, split, condition, value, metric, which, mean, ci95, n

That table is derived: the `cond_*` columns of the cell's per_utterance.csv give it again
(condition_means), and the report derives it from there where the file is (report/conditions.load),
so a results folder in git need not carry it.

Data without metadata (data=folder, data=vbdmd) has no condition rows.
"""
from __future__ import annotations

import math

import pandas as pd

from ..audio.metrics import summarise

SNR_EDGES = (0.0, 5.0, 10.0, 15.0)
CONDITIONS = ("snr", "noise", "speaker")


def snr_band(snr_db) -> str:
    try:
        snr = float(snr_db)
    except (TypeError, ValueError):
        return ""
    if math.isnan(snr):
        return ""
    if snr < SNR_EDGES[0]:
        return f"< {SNR_EDGES[0]:g} dB"
    for lo, hi in zip(SNR_EDGES, SNR_EDGES[1:]):
        if snr < hi:
            return f"{lo:g}–{hi:g} dB"
    return f"≥ {SNR_EDGES[-1]:g} dB"


def noise_type(noise: str) -> str:
    """The first (louder) noise of a mixture; a training recording counts as `real`."""
    first = str(noise or "").split("+")[0]
    return "real" if first.startswith("real:") else first


def tags(row: dict) -> dict:
    speaker = row.get("accent") or row.get("speech_package") or ""
    return {"snr": snr_band(row.get("snr_db")), "noise": noise_type(row.get("noise", "")),
            "speaker": str(speaker)}


def tag(table: pd.DataFrame, metadata) -> pd.DataFrame:
    """The per-utterance table with a `cond_<name>` column per condition (by utterance name)."""
    if not metadata:
        return table
    by_name = {str(row["name"]): tags(row) for row in metadata}
    out = table.copy()
    for c in CONDITIONS:
        out[f"cond_{c}"] = out["name"].map(lambda n: by_name.get(str(n), {}).get(c, ""))
    return out


def condition_means(table: pd.DataFrame) -> pd.DataFrame:
    """The table's means per split × condition value × metric × which (columns split, condition,
    value, metric, which, mean, ci95, n); empty where no utterance is tagged."""
    parts = []
    for c in CONDITIONS:
        col = f"cond_{c}"
        if col not in table or not table[col].astype(bool).any():
            continue
        summary = summarise(table[table[col].astype(bool)], by=["split", col]).rename(columns={col: "value"})
        summary.insert(1, "condition", c)
        parts.append(summary)
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)[["split", "condition", "value", "metric", "which", "mean", "ci95", "n"]]


def condition_rows(study: str, cell, table: pd.DataFrame) -> pd.DataFrame:
    """Tidy rows of the cell's means (condition_means) with the cell's identity in front."""
    rows = condition_means(table)
    if rows.empty:
        return rows
    for i, (key, value) in enumerate((("study", study), ("cell", cell.hash), ("kind", cell.kind),
                                      ("label", cell.label))):
        rows.insert(i, key, value)
    return rows


def spanning_examples(metadata, n: int, k: int) -> list[int]:
    """Indices of `k` of the first `n` utterances spread over the input-SNR range (quantiles
    (i + ½)/k of their SNR order), the same in every cell, so the report's listening section plays
    one utterance per SNR region in each system. Without SNR metadata: evenly spaced indices."""
    k = max(0, min(k, n))
    if k == 0:
        return []
    snr = []
    for i in range(n):
        try:
            snr.append((float((metadata or [])[i]["snr_db"]), i))
        except (IndexError, KeyError, TypeError, ValueError):
            snr = []
            break
    order = [i for _, i in sorted(snr)] if snr and not any(math.isnan(s) for s, _ in snr) else list(range(n))
    return sorted({order[min(n - 1, int((j + 0.5) * n / k))] for j in range(k)})
