"""A study's contrast: the two cells of its primary comparison, named in the study file by their axis
labels (`contrast: {control: {axis: label, …}, treatment: {…}}`, checked when the file is loaded:
driver/study_contrast.py). The players and the input-SNR plot show these two arms beside the predictive
baseline, so that a listener hears the comparison the study is about rather than whichever cells
scored best. A study file without one (a user's own study) falls back to the best cells.
"""
from __future__ import annotations

import pandas as pd

ROLES = ("control", "treatment")


def _found(summary: pd.DataFrame, contrast: dict | None) -> dict[str, tuple[str, str]]:
    """role -> (cell, label) of the contrast's arms that this split's summary holds."""
    out = {}
    for role in ROLES if contrast else ():
        match = summary[summary["kind"] != "input"]
        for axis, label in contrast[role].items():
            match = match[match[axis].astype(str) == str(label)]
        if len(match) == 1:
            out[role] = (match["cell"].iloc[0], f"{match['display'].iloc[0]} ({role})")
    return out


def arms(summary: pd.DataFrame, contrast: dict | None) -> list[tuple[str, str]]:
    """(cell, label) of the contrast's control and treatment that this split's summary holds, in
    that order; [] without a contrast."""
    return list(_found(summary, contrast).values())


def missing(summary: pd.DataFrame, contrast: dict | None) -> list[str]:
    """The contrast's arms this split has no finished cell of, as 'role: axis label, …'."""
    found = _found(summary, contrast)
    return [f"{role}: {', '.join(str(v) for v in contrast[role].values())}"
            for role in ROLES if contrast and role not in found]


def systems(summary: pd.DataFrame, contrast: dict | None, fallback: int = 1) -> list[tuple[str, str]]:
    """(cell, label) of what the players and the input-SNR plot show: the contrast's two arms, or
    without a contrast the `fallback` best diffusion cells (the summary is sorted best first); then
    the predictive baseline."""
    chosen = arms(summary, contrast) if contrast else [
        (r["cell"], r["display"]) for _, r in summary[summary["kind"] == "diffusion"].head(fallback).iterrows()]
    predictive = summary[summary["kind"] == "predictive"].head(1)
    return chosen + [(r["cell"], r["display"]) for _, r in predictive.iterrows()]


def describe(summary: pd.DataFrame, contrast: dict | None, fallback: str) -> str:
    """The caption's words for `systems`."""
    if not contrast:
        return f"{fallback} and the predictive baseline"
    gone = missing(summary, contrast)
    return ("the contrast the study is about, its control and its treatment, and the predictive baseline"
            + (f" (not finished on this split: {'; '.join(gone)})" if gone else ""))
