"""Cells of one training hash scored on different weights: a model trained again elsewhere.

A model folder is keyed by its training config, and training is bit-for-bit repeatable on one kind
of host. It is not across kinds: `trainer.precision: auto` trains in fp32 on a CPU without native
bf16 and in bf16 autocast on one with it, so a study resumed on another kind of machine (models stay
out of git) trains a twin: same hash, other weights. Gaps between cells scored on two twins then hold
a retraining effect beside the axis under study; `perf/retrained_twin.py` measures it. cells.csv
records each cell's weights digest (cell_progress.weights_id); rows written before it did have only
the scoring device, which stands in for the weights where the digest is missing.
"""
from __future__ import annotations

import pandas as pd


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def twins(table: pd.DataFrame) -> list[dict]:
    """[{training_hash, groups: [{weights, cells}]}] for every training hash whose cells in `table`
    were scored on more than one set of weights. A cell without a digest is taken to share the
    weights of recorded cells scored on the same device (training repeats bit for bit there), and
    is grouped by its device where there are none."""
    cells = table[table["kind"].isin(["diffusion", "predictive"])].drop_duplicates("cell", keep="last")
    found = []
    for training_hash, group in cells.groupby("training_hash", sort=True):
        weights = {r["cell"]: _text(r.get("weights")) for _, r in group.iterrows()}
        device = {r["cell"]: _text(r.get("device")) for _, r in group.iterrows()}
        on_device = {device[c]: w for c, w in weights.items() if w}
        by_weights: dict[str, list[str]] = {}
        for cell, w in weights.items():
            w = w or on_device.get(device[cell]) or f"not recorded (scored on {device[cell] or 'an unknown device'})"
            by_weights.setdefault(w, []).append(cell)
        if len(by_weights) > 1:
            found.append({"training_hash": training_hash,
                          "groups": [{"weights": w, "cells": sorted(c)} for w, c in sorted(by_weights.items())]})
    return found
