"""A split's figures and their captions, in the order the page shows them."""
from __future__ import annotations

import pandas as pd

from benchmark.report import conditions as by_condition
from benchmark.report import contrast, costs, plots, tables
from benchmark.report.load import Study


def _rtf_caption(summary: pd.DataFrame, table: pd.DataFrame, name: str) -> str:
    devices = costs.hosts(summary)
    where = (f"one panel per host, never on one scale ({costs.hosts_text(summary)})" if len(devices) > 1
             else f"timed on {costs.hosts_text(summary)}")
    dropped = costs.left_out(summary, table)
    return (f"{name} against the measured real-time factor (enhancement seconds per second of audio), "
            f"{where}; lines, star and dashes as above."
            + (f" Left out as contended? (the run likely shared its CPU while timed): {'; '.join(dropped)}."
               if dropped else ""))


def section_figures(summary: pd.DataFrame, table: pd.DataFrame, split: str, study: Study, metrics: list[str],
                    primary: str, cond: pd.DataFrame | None, colours: dict) -> list[dict]:
    """`summary`: the split's cells with their `method` (methods.method_names); `colours`: the page's
    one map of method → colour."""
    references = {m: tables.noisy_reference(table, split, m) for m in metrics}
    name = tables.metric_name(primary)
    names = " · ".join(tables.metric_name(m) for m in metrics)
    figures = [(plots.cell_plot(summary, metrics, references, colours),
                f"{names} per cell, 95% CI, best {name} at the top; colour: the cell's method, the same in "
                "every plot of this page; dashed: the noisy input (band: its CI)."),
               (plots.nfe_plot(summary, metrics, references, colours),
                f"{names} against NFE, one line per method (its cells at each step count, joined); dotted: "
                "the Pareto front (best score at or below each NFE); star: the predictive baseline; dashed: "
                f"the noisy input; dash-dotted: SGMSE+'s {plots.SGMSE_NFE} NFE (PC, N = 30, one corrector step).")]
    devices = costs.hosts(summary)
    titles = costs.short_names(devices) if len(devices) > 1 else {d: "" for d in devices}
    timed = summary[costs.contended(summary, table) == ""]
    figures.append((plots.rtf_plot(timed, primary, references[primary], colours, titles),
                    _rtf_caption(summary, table, name)))
    axes = list(study.axes)
    present = [a for a in axes if summary[a].replace("", pd.NA).dropna().nunique() >= 2]
    if len(present) >= 2:
        rows_axis, columns_axis = present[:2]
        grid = tables.two_axis_grid(summary, rows_axis, columns_axis, study.axes, primary)
        others = [a for a in axes if a not in (rows_axis, columns_axis)]
        figures.append((plots.heatmap(grid, primary),
                        f"Mean {name} by {rows_axis} × {columns_axis}"
                        + (f", averaged over {', '.join(others)}" if others else "")
                        + "; blank squares have no finished cell."))
    chosen = contrast.systems(summary, study.contrast)
    figures.append((by_condition.snr_plot(cond, summary, split, primary, colours, chosen),
                    f"Δ {name} over the noisy input by input-SNR band, 95% CI: "
                    f"{contrast.describe(summary, study.contrast, 'the best diffusion cell of this split')}; "
                    "dashed: no change."))
    return [{"png": png, "caption": caption} for png, caption in figures if png]
