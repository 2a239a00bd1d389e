"""What a page's plots call a method, and the one colour each gets on the whole page.

A method is a cell's settings less its step count: the cells of one method differ only in NFE, so
a cost plot joins them with one line. It is read from the study's own overrides (base, each axis
value's list, `extra` entries), not from the labels, because an axis such as beyond_paper's `system`
sets the method and the steps at once ("SB-ODE, NFE 1" … "SB-ODE, NFE 5"), and sampler_ablation
splits them over two axes. The method's name is its cells' axis values with the step count taken out.
"""
from __future__ import annotations

import re

import pandas as pd
import seaborn as sns

from benchmark.report.load import Study

STEP_KEYS = re.compile(r"^sampler\.(corrector_)?steps$")
# "NFE 15", "(NFE 60)", "N=8", "N 8" in a value label: the step count, not the method
STEP_TEXT = re.compile(r"\s*[,·]?\s*\(?\b(?:NFE|N)\s*=?\s*\d+\)?")
PREDICTIVE = "predictive baseline"
INPUT = "noisy input"
PREDICTIVE_COLOUR = (0.15, 0.15, 0.15)     # drawn as a star: kept out of the methods' palette


def _settings(overrides) -> dict[str, str]:
    """key → value, the later override winning as in the composed configuration."""
    out = {}
    for item in overrides:
        key, _, value = str(item).partition("=")
        out[key.strip()] = value.strip()
    return out


def _value_overrides(study: Study) -> dict[str, dict[str, list]]:
    raw_axes = (study.raw or {}).get("axes") or {}
    return {str(a): {str(v): list(o or []) for v, o in (values or {}).items()} for a, values in raw_axes.items()}


def _step_only(overrides: list | None) -> bool:
    return overrides is not None and bool(overrides) and all(STEP_KEYS.match(k) for k in _settings(overrides))


def _key(row: pd.Series, study: Study, by_value: dict) -> tuple | None:
    """The cell's settings less its step count, or None where the study file does not say them."""
    raw = study.raw or {}
    labels = {a: str(row.get(a, "") or "") for a in study.axes}
    for extra in raw.get("extra") or []:
        if {a: str((extra.get("axes") or {}).get(a, "")) for a in study.axes} == labels:
            overrides = list(raw.get("base") or []) + list(extra.get("overrides") or [])
            break
    else:
        try:
            overrides = list(raw.get("base") or []) + [o for a, v in labels.items() for o in by_value[a][v]]
        except KeyError:
            return None
    return tuple(sorted((k, v) for k, v in _settings(overrides).items() if not STEP_KEYS.match(k)))


def _name(group: pd.DataFrame, study: Study, by_value: dict) -> str:
    parts = []
    for axis in study.axes:
        values = []
        for value in dict.fromkeys(group[axis]) if axis in group else ():
            if _step_only(by_value.get(axis, {}).get(value)):
                continue                     # a steps axis (sampler_ablation's "4" … "30"), or "N 8"
            text = STEP_TEXT.sub("", str(value)).strip(" ,·")
            if text and text not in values:
                values.append(text)
        if values:
            parts.append("/".join(values))
    return " · ".join(parts) or STEP_TEXT.sub("", str(group["label"].iloc[0])).strip(" ,·") or "diffusion"


def method_names(cells: pd.DataFrame, study: Study) -> dict[str, str]:
    """cell → its method's name, for every cell of `cells` (a row per cell, or the tidy table)."""
    cells = cells.drop_duplicates("cell", keep="last")
    by_value = _value_overrides(study)
    out = {}
    for _, row in cells[cells["kind"] != "diffusion"].iterrows():
        out[row["cell"]] = PREDICTIVE if row["kind"] == "predictive" else INPUT
    diffusion = cells[cells["kind"] == "diffusion"]
    keys = {row["cell"]: _key(row, study, by_value) or ("cell", row["cell"]) for _, row in diffusion.iterrows()}
    taken = set()
    for key in dict.fromkeys(keys.values()):
        group = diffusion[diffusion["cell"].map(keys) == key]
        name = _name(group, study, by_value)
        if name in taken:                    # two methods the labels cannot tell apart: say which cell
            name = f"{name} [{group['cell'].iloc[0]}]"
        taken.add(name)
        out.update(dict.fromkeys(group["cell"], name))
    return out


def _order(cells: pd.DataFrame, names: dict[str, str], study: Study) -> list[str]:
    """The diffusion methods in the study file's value order (its first cell's values), so a page's
    legend reads as its study file does."""
    def rank(row):
        return tuple(study.axes[a].index(row[a]) if row.get(a) in study.axes[a] else len(study.axes[a])
                     for a in study.axes)
    diffusion = cells[cells["kind"] == "diffusion"].drop_duplicates("cell")
    ranked = sorted(((rank(row), names[row["cell"]]) for _, row in diffusion.iterrows()), key=lambda r: r[0])
    return list(dict.fromkeys(name for _, name in ranked))


def colour_map(cells: pd.DataFrame, names: dict[str, str], study: Study) -> dict[str, tuple]:
    """Method name → colour, built once per page: every plot of the page draws a method in it."""
    order = _order(cells, names, study)
    palette = sns.color_palette("deep" if len(order) <= 10 else "tab20", max(len(order), 1))
    colours = {name: tuple(palette[i % len(palette)]) for i, name in enumerate(order)}
    colours[PREDICTIVE] = PREDICTIVE_COLOUR
    return colours
