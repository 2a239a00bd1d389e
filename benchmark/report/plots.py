"""Seaborn figures for the report, returned as base64 PNG embedded in the page (small;
the listening clips, larger, are files beside it: listening.py).

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so no display is needed, no
global figure state leaks between reports, and seaborn's style applies only inside this module.
"""
from __future__ import annotations

import base64
import io
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from benchmark.report.tables import DECIMALS, metric_name

KIND_COLOURS = dict(zip(("diffusion", "predictive", "input"), sns.color_palette("deep", 3)))
STYLE = "whitegrid"
WIDTH = 8.0


def to_base64(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No Software tag: the PNG then holds no URL and the same figure gives the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _reference_line(ax, reference: tuple[float, float], vertical: bool) -> None:
    mean, ci = reference
    if not math.isfinite(mean):
        return
    line, band = (ax.axvline, ax.axvspan) if vertical else (ax.axhline, ax.axhspan)
    line(mean, linestyle="--", color="0.35", linewidth=1.2, label="noisy input")
    if math.isfinite(ci):
        band(mean - ci, mean + ci, color="0.35", alpha=0.12, linewidth=0)


def cell_plot(summary: pd.DataFrame, metric: str, reference: tuple[float, float]) -> str | None:
    """Each cell's mean with its 95% CI, best at the top, the noisy input dashed."""
    rows = summary[(summary["kind"] != "input") & summary[metric].notna()]
    if rows.empty:
        return None
    rows = rows.sort_values(metric, ascending=False, kind="stable")
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(WIDTH, 1.2 + 0.34 * len(rows)))
        ax = fig.add_subplot()
        sns.pointplot(data=rows, x=metric, y="display", hue="kind", order=list(rows["display"]),
                      palette=KIND_COLOURS, linestyle="none", errorbar=None, markers="o",
                      ax=ax)
        for position, (_, row) in enumerate(rows.iterrows()):
            if math.isfinite(row[f"{metric}_ci"]):
                ax.errorbar(row[metric], position, xerr=row[f"{metric}_ci"], fmt="none",
                            ecolor=KIND_COLOURS[row["kind"]], capsize=3, linewidth=1.2)
        _reference_line(ax, reference, vertical=True)
        ax.set_xlabel(f"{metric_name(metric)} (mean, 95% CI)")
        ax.set_ylabel("")
        ax.legend(loc="best", fontsize="small")
        return to_base64(fig)


def pareto_front(nfe: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the cells no other cell beats with at most the same NFE."""
    order = np.lexsort((-score, nfe))
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.array(front, dtype=int)


SGMSE_NFE = 60      # SGMSE+'s PC sampler: N = 30 with one corrector step (docs/design-space.md §5)
COST_AXES = {"nfe": "network evaluations per utterance (NFE, log scale)",
             "rtf": "measured real-time factor (enhancement seconds per audio second, log scale)"}


def nfe_plot(summary: pd.DataFrame, metric: str, reference: tuple[float, float],
             hue_axis: str | None, x: str = "nfe") -> str | None:
    """Score against cost (x = "nfe" or the measured "rtf", log scale) when NFE varies: one line
    per value of `hue_axis` (the sampler, where a study varies it), the Pareto front, the
    predictive baseline and, on the NFE axis, SGMSE+'s budget of 60 marked."""
    if x not in summary:
        return None
    cells = summary[(summary["kind"] == "diffusion") & summary[metric].notna()
                    & (summary["nfe"] > 0) & (summary[x] > 0)]
    if cells["nfe"].nunique() < 2:
        return None
    hue = hue_axis if hue_axis and cells[hue_axis].nunique() > 1 else None
    levels = list(dict.fromkeys(cells[hue])) if hue else [None]
    colours = dict(zip(levels, sns.color_palette("deep", len(levels))))
    cells = cells.assign(_x=cells[x])
    if hue:
        # Nudge each hue level sideways (multiplicatively: the axis is log) so CIs don't overlap.
        offset = {v: 1 + 0.035 * (i - (len(levels) - 1) / 2) for i, v in enumerate(levels)}
        cells["_x"] = cells[x] * cells[hue].map(offset)
    predictive = summary[(summary["kind"] == "predictive") & summary[metric].notna()
                         & (summary[x] > 0)]
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(WIDTH, 4.6))
        ax = fig.add_subplot()
        for level in levels:
            part = (cells[cells[hue] == level] if hue else cells).sort_values("_x")
            ax.errorbar(part["_x"], part[metric], yerr=part[f"{metric}_ci"].fillna(0),
                        fmt="none", ecolor=colours[level], alpha=0.6, capsize=2, linewidth=1)
            if hue and part[x].nunique() > 1:
                ax.plot(part["_x"], part[metric], color=colours[level], linewidth=1, alpha=0.8)
        sns.scatterplot(data=cells, x="_x", y=metric, hue=hue, style=hue, s=70, ax=ax,
                        palette=colours if hue else None, zorder=3)
        front = cells.iloc[pareto_front(cells[x].to_numpy(), cells[metric].to_numpy())]
        ax.step(front["_x"], front[metric], where="post", color="0.2", linewidth=1,
                linestyle=":", label="Pareto front")
        for _, row in predictive.iterrows():
            ax.scatter(row[x], row[metric], marker="*", s=180, zorder=4,
                       color=KIND_COLOURS["predictive"], label="predictive")
        _reference_line(ax, reference, vertical=False)
        if x == "nfe":
            ax.axvline(SGMSE_NFE, color="#c44e52", linestyle="-.", linewidth=1,
                       label=f"SGMSE+'s NFE ({SGMSE_NFE})")
        ax.set_xscale("log")
        if x == "nfe":
            ax.set_xticks(sorted(set(cells["nfe"]) | set(predictive["nfe"]) | {SGMSE_NFE}))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(COST_AXES[x])
        ax.set_ylabel(f"{metric_name(metric)} (mean, 95% CI)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                  title=hue, frameon=False)
        return to_base64(fig)


def heatmap(grid: pd.DataFrame, metric: str) -> str | None:
    """Mean of `metric` over a two-axis grid; empty squares are cells not finished yet."""
    values = grid.astype(float)
    if values.empty or not values.notna().any().any():
        return None
    with sns.axes_style("white"):
        fig = Figure(figsize=(min(WIDTH, 2.2 + 1.3 * values.shape[1]),
                              1.2 + 0.55 * values.shape[0]))
        ax = fig.add_subplot()
        sns.heatmap(values, annot=True, fmt=f".{DECIMALS.get(metric, 3)}f", cmap="viridis",
                    mask=values.isna(), linewidths=0.5, ax=ax,
                    cbar_kws={"label": metric_name(metric)})
        ax.set_ylabel(grid.index.name or "")
        ax.set_xlabel(grid.columns.name or "")
        ax.tick_params(axis="y", rotation=0)
        return to_base64(fig)
