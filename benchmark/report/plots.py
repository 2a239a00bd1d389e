"""Seaborn-styled figures for the report, returned as base64 PNG embedded in the page (small;
the listening clips, larger, are files beside it: listening.py).

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so no display is needed, no
global figure state leaks between reports, and seaborn's style applies only inside this module.
Each figure is built by a *_figure function (a Figure, which the tests read) and encoded by the
*_plot function beside it. A cell is drawn in its method's colour (methods.colour_map), one map per
page, so a system has one colour in every plot of its page.
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
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from benchmark.report.tables import DECIMALS, metric_name

KIND_COLOURS = dict(zip(("diffusion", "predictive", "input"), sns.color_palette("deep", 3)))
PREDICTIVE = "predictive baseline"        # methods.PREDICTIVE: the colour map's key for the baseline
STYLE = "whitegrid"
WIDTH = 8.0
PANEL = (3.6, 3.4)                        # one small multiple (inches)
TICK_GAP = 0.14                           # least distance of two NFE tick labels, in decades (×1.38)


def to_base64(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No Software tag: the PNG then holds no URL and the same figure gives the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _encoded(fig: Figure | None) -> str | None:
    return None if fig is None else to_base64(fig)


def _reference_line(ax, reference: tuple[float, float], vertical: bool) -> None:
    mean, ci = reference
    if not math.isfinite(mean):
        return
    line, band = (ax.axvline, ax.axvspan) if vertical else (ax.axhline, ax.axhspan)
    line(mean, linestyle="--", color="0.35", linewidth=1.2, label="noisy input")
    if math.isfinite(ci):
        band(mean - ci, mean + ci, color="0.35", alpha=0.12, linewidth=0)


def _method(rows: pd.DataFrame) -> pd.Series:
    """Each row's method (build.py adds the column); a cell alone where no method is known."""
    if "method" in rows:
        return rows["method"]
    return rows["display"] if "display" in rows else rows["label"]


def _colour(colours: dict | None, method: str, kind: str = "diffusion"):
    return (colours or {}).get(method) or KIND_COLOURS[kind]


def cell_figure(summary: pd.DataFrame, metrics: list[str], references: dict[str, tuple[float, float]],
                colours: dict | None = None) -> Figure | None:
    """Each cell's mean with its 95% CI, one panel per metric side by side, best first by the first
    metric; the noisy input dashed."""
    first = metrics[0]
    rows = summary[(summary["kind"] != "input") & summary[first].notna()]
    if rows.empty:
        return None
    rows = rows.sort_values(first, ascending=False, kind="stable").assign(_method=_method)
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(3.2 + 2.6 * len(metrics), 1.2 + 0.34 * len(rows)), layout="constrained")
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
        for ax, metric in zip(axes, metrics):
            for position, (_, row) in enumerate(rows.iterrows()):
                ci = row[f"{metric}_ci"]
                drawn = ax.errorbar(row[metric], position, xerr=ci if math.isfinite(ci) else None, fmt="o",
                                    color=_colour(colours, row["_method"], row["kind"]), capsize=3,
                                    linewidth=1.2, markersize=6)
                drawn.lines[0].set_gid(row["_method"])
            _reference_line(ax, references.get(metric, (math.nan, math.nan)), vertical=True)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5))       # panels side by side: labels apart
            ax.set_xlabel(f"{metric_name(metric)} (mean, 95% CI)")
        axes[0].set_yticks(range(len(rows)), list(rows["display"]))
        axes[0].set_ylim(len(rows) - 0.5, -0.5)             # best at the top
        return fig


def cell_plot(summary, metrics, references, colours=None) -> str | None:
    return _encoded(cell_figure(summary, metrics, references, colours))


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
COST_AXES = {"nfe": "NFE (network evaluations per utterance, log scale)",
             "rtf": "measured real-time factor (log scale)"}


def thinned(values, gap: float = TICK_GAP) -> list[float]:
    """The tick values, less any closer than `gap` decades to the one kept before it (7 and 8,
    15 and 16: their labels would print over each other)."""
    kept = []
    for value in sorted(set(v for v in values if v > 0)):
        if not kept or math.log10(value / kept[-1]) >= gap:
            kept.append(value)
    return kept


def _cost_panel(ax, cells: pd.DataFrame, predictive: pd.DataFrame, metric: str, x: str,
                reference: tuple[float, float], colours: dict | None, order: list[str]) -> None:
    """One panel: a line per method through its cells (by `x`), the Pareto front, the predictive
    baseline as a star, the noisy input dashed and, on the NFE axis, SGMSE+'s 60 NFE."""
    present = [m for m in order if (cells["_method"] == m).any()]
    # Nudge each method sideways (multiplicatively: the axis is log) so the CIs of cells at one
    # NFE do not cover each other; within ±10% so a point stays by its tick.
    step = min(0.03, 0.2 / max(len(present), 1))
    offset = {m: 1 + step * (i - (len(present) - 1) / 2) for i, m in enumerate(present)}
    cells = cells.assign(_x=cells[x] * (cells["_method"].map(offset) if x == "nfe" else 1.0))
    for method in present:
        part = cells[cells["_method"] == method].sort_values("_x")
        drawn = ax.errorbar(part["_x"], part[metric], yerr=part[f"{metric}_ci"].fillna(0), fmt="-o",
                            color=_colour(colours, method), markersize=6, linewidth=1.4, capsize=2,
                            elinewidth=0.9, alpha=0.9, label=method, zorder=3)
        drawn.lines[0].set_gid(method)          # the tests read a method's line by its gid
    front = cells.iloc[pareto_front(cells[x].to_numpy(), cells[metric].to_numpy())]
    ax.step(front["_x"], front[metric], where="post", color="0.2", linewidth=1, linestyle=":",
            label="Pareto front")
    for _, row in predictive.iterrows():
        ax.scatter(row[x], row[metric], marker="*", s=180, zorder=4, label=PREDICTIVE,
                   color=_colour(colours, PREDICTIVE, "predictive"))
    _reference_line(ax, reference, vertical=False)
    ax.set_xscale("log")
    if x == "nfe":
        ax.axvline(SGMSE_NFE, color="#c44e52", linestyle="-.", linewidth=1, label=f"SGMSE+'s NFE ({SGMSE_NFE})")
        ax.set_xticks(thinned([*cells["nfe"], *predictive["nfe"], SGMSE_NFE]))
    else:
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def cost_figure(panels: list[tuple[str, str, pd.DataFrame]], references: dict[str, tuple[float, float]],
                colours: dict | None, x: str = "nfe") -> Figure | None:
    """Small multiples of score against cost, side by side, one shared legend: `panels` holds
    (title, metric, that panel's rows of the split summary) each. None when no panel has a diffusion
    cell, or when the split's NFE does not vary (a cost plot would have one column of points)."""
    def usable(rows, metric):
        return rows[rows[metric].notna() & (rows["nfe"] > 0) & (rows[x] > 0)]
    everything = pd.concat([rows for _, _, rows in panels]) if panels else pd.DataFrame()
    if x not in everything or everything.empty:
        return None
    diffusion = everything[(everything["kind"] == "diffusion") & (everything[x] > 0)]
    if diffusion["nfe"].nunique() < 2:
        return None
    order = list(dict.fromkeys([*(colours or {}), *_method(diffusion)]))
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(PANEL[0] * len(panels) + 2.8, PANEL[1]), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=x == "rtf")[0]
        for ax, (title, metric, rows) in zip(axes, panels):
            rows = usable(rows.assign(_method=_method), metric)
            _cost_panel(ax, rows[rows["kind"] == "diffusion"], rows[rows["kind"] == "predictive"], metric, x,
                        references.get(metric, (math.nan, math.nan)), colours, order)
            ax.set_title(title, fontsize="medium")
            ax.set_xlabel(COST_AXES[x], fontsize="small")
            ax.set_ylabel(f"{metric_name(metric)} (mean, 95% CI)")
        handles = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
        # the methods in the page's order, then the baseline, then the reference lines
        labels = sorted(handles, key=lambda k: (order.index(k) if k in order else len(order) + (k != PREDICTIVE)))
        fig.legend([handles[k] for k in labels], labels, loc="outside right upper", fontsize="small",
                   frameon=False)
        return fig


def nfe_figure(summary: pd.DataFrame, metrics: list[str], references: dict[str, tuple[float, float]],
               colours: dict | None = None) -> Figure | None:
    """Each metric against NFE, a panel per metric: NFE is the sampler's count, the same on any host."""
    return cost_figure([(metric_name(m), m, summary) for m in metrics], references, colours, "nfe")


def rtf_figure(summary: pd.DataFrame, metric: str, reference: tuple[float, float], colours: dict | None,
               hosts: dict[str, str]) -> Figure | None:
    """`metric` against the measured RTF, a panel per host (`hosts`: device → panel title): an RTF
    is a property of the machine as much as of the method, so two hosts never share an axis."""
    device = summary["device"].fillna("").astype(str) if "device" in summary else pd.Series("", summary.index)
    device = device.replace("", "unknown host")
    panels = [(title, metric, summary[device == d]) for d, title in hosts.items()]
    return cost_figure(panels, {metric: reference}, colours, "rtf")


def nfe_plot(summary, metrics, references, colours=None) -> str | None:
    return _encoded(nfe_figure(summary, metrics, references, colours))


def rtf_plot(summary, metric, reference, colours, hosts) -> str | None:
    return _encoded(rtf_figure(summary, metric, reference, colours, hosts))


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
        if max((len(str(c)) for c in values.columns), default=0) > 9:      # 1.3 in a column: slant long names
            ax.tick_params(axis="x", rotation=30)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        return to_base64(fig)
