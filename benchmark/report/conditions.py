"""The report's view by condition (condition_scores.py tags each utterance; load derives the means):
for each input-SNR band, noise type and speaker group, the noisy input's mean and the Δ over it
of the split's best diffusion cell and of the predictive baseline, as a table and a plot."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from benchmark.driver import ledger
from benchmark.driver.condition_scores import CONDITIONS, SNR_EDGES, condition_means
from benchmark.report import paired_stats, tables
from benchmark.report.load import scores
from benchmark.report.plots import STYLE, WIDTH, to_base64

TITLES = {"snr": "input SNR", "noise": "noise type", "speaker": "speaker group"}


def load(results_dir: Path, cells) -> pd.DataFrame | None:
    """The study's means by condition, one block per cell of `cells` (cells.csv's order, from the
    table the page was built from): from the cell's own per_utterance.csv (its `cond_*` tags,
    condition_scores.condition_means), else from the rows the driver appended to conditions.csv (a
    cell scored by another study keeps no file here). The per-utterance files are the scores
    themselves, so the derived table need not be in git. None when neither has a row."""
    folder = Path(results_dir)
    kept = _appended(folder / ledger.CONDITIONS_CSV)
    parts = []
    for cell in dict.fromkeys([*cells, *kept["cell"]]):
        path = ledger.per_utterance(folder, cell)
        derived = condition_means(scores(path)) if path.is_file() else pd.DataFrame()
        part = derived.assign(cell=cell) if len(derived) else kept[kept["cell"] == cell]
        if len(part):
            parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else None


def _appended(path: Path) -> pd.DataFrame:
    """conditions.csv's rows, a cell's last ones where it was scored twice; none without the file."""
    if not path.is_file():
        return pd.DataFrame({"cell": []})
    table = pd.read_csv(path, dtype={"cell": str, "value": str}, keep_default_na=False, na_values=[""])
    return table.drop_duplicates(["cell", "split", "condition", "value", "metric", "which"], keep="last")


def _snr_order(value: str) -> float:
    if value.startswith("<"):
        return -math.inf
    if value.startswith("≥"):
        return math.inf
    try:
        return float(value.split("–")[0])
    except ValueError:
        return math.nan


def _order(condition: str, values) -> list[str]:
    values = sorted(set(values))
    return sorted(values, key=_snr_order) if condition == "snr" else values


def systems(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(cell, label) of the split's best diffusion cell and of the predictive baseline."""
    out = []
    for kind in ("diffusion", "predictive"):
        rows = summary[summary["kind"] == kind]
        if len(rows):
            out.append((rows["cell"].iloc[0], rows["label"].iloc[0]))   # summary is sorted best first
    return out


def _tests(cells_dir: Path | None, cells: list[str], split: str, metric: str, condition: str) -> dict:
    """(cell, condition value) -> Wilcoxon p of output − input over the group's utterances, Holm-adjusted
    over the table's groups and systems; {} where the per-utterance files (and their tags) are not here."""
    raw = {}
    for cell in cells:
        path = ledger.per_utterance_under(cells_dir, cell) if cells_dir else None
        if path is None or not path.is_file():
            continue
        frame = scores(path)
        if f"cond_{condition}" not in frame or "input" not in frame:
            continue
        part = frame[(frame["split"] == split) & (frame["metric"] == metric) & (frame[f"cond_{condition}"] != "")]
        for value, group in part.groupby(f"cond_{condition}"):
            raw[(cell, str(value))] = paired_stats.wilcoxon_p((group["output"] - group["input"]).to_numpy(float))
    return dict(zip(raw, paired_stats.holm(list(raw.values()))))


def section(cond: pd.DataFrame | None, summary: pd.DataFrame, split: str, metric: str,
            cells_dir: Path | None = None) -> list[dict]:
    """One table per condition: rows of value, n, input mean, and Δ (± CI) of each system, coloured
    by the reports' rule (paired_stats.verdict) with each group's Wilcoxon p from `cells_dir`'s
    per-utterance files where they are there."""
    if cond is None:
        return []
    part = cond[(cond["split"] == split) & (cond["metric"] == metric)]
    chosen = systems(summary)
    out = []
    for condition in CONDITIONS:
        rows_c = part[part["condition"] == condition]
        if rows_c.empty:
            continue
        tests = _tests(cells_dir, [c for c, _ in chosen], split, metric, condition)
        rows, by_ci = [], set()
        for value in _order(condition, rows_c["value"]):
            at = rows_c[rows_c["value"] == value]
            first = at[at["which"] == "input"]
            if first.empty:
                continue
            row = {"value": value, "n": int(first["n"].iloc[0]),
                   "input": tables.fmt(float(first["mean"].iloc[0]), metric), "deltas": []}
            for cell, _ in chosen:
                d = at[(at["cell"] == cell) & (at["which"] == "delta")]
                mean = float(d["mean"].iloc[0]) if len(d) else math.nan
                ci = float(d["ci95"].iloc[0]) if len(d) else math.nan
                p = tests.get((cell, value), math.nan)
                if paired_stats.by_ci(p) and math.isfinite(ci):
                    by_ci.add(cell)
                row["deltas"].append({
                    "text": tables.fmt(mean, metric, signed=True)
                            + (f" ± {tables.fmt(ci, metric)}" if math.isfinite(ci) else ""),
                    "p": paired_stats.p_text(p),
                    "sign": {1: "up", -1: "down", 0: ""}[paired_stats.verdict(mean, ci, p)]})
            rows.append(row)
        out.append({"condition": TITLES[condition],
                    "systems": [label + (f" ({paired_stats.CI_MARK})" if cell in by_ci else "")
                                for cell, label in chosen],
                    "rows": rows})
    return out


def snr_plot(cond: pd.DataFrame | None, summary: pd.DataFrame, split: str, metric: str,
             colours: dict | None = None, chosen: list[tuple[str, str]] | None = None) -> str | None:
    """Δ of the `chosen` systems ((cell, label); default: `systems`) against the input-SNR band;
    `colours`: the page's method -> colour map (methods.py), so a system keeps the colour it has in
    the page's other plots."""
    if cond is None:
        return None
    part = cond[(cond["split"] == split) & (cond["metric"] == metric) & (cond["condition"] == "snr")
                & (cond["which"] == "delta")]
    chosen = dict(chosen if chosen is not None else systems(summary))
    part = part[part["cell"].isin(chosen)].assign(system=lambda d: d["cell"].map(chosen))
    if part.empty or part["value"].nunique() < 2:
        return None
    order = _order("snr", part["value"])
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(WIDTH, 3.2))
        ax = fig.add_subplot()
        method = (summary.set_index("cell")["method"].to_dict()
                  if colours and "method" in summary.columns else {})
        for fallback, (system, rows) in zip(sns.color_palette("deep"), part.groupby("system", sort=False)):
            colour = (colours or {}).get(method.get(rows["cell"].iloc[0]), fallback)
            rows = rows.set_index("value").reindex(order)
            x = list(range(len(order)))
            ax.errorbar(x, rows["mean"], yerr=rows["ci95"], marker="o", capsize=3, color=colour, label=system)
        ax.axhline(0, linestyle="--", color="0.35", linewidth=1.0, label="noisy input")
        ax.set_xticks(range(len(order)), order)
        ax.set_xlabel(f"input SNR band (edges {', '.join(f'{e:g}' for e in SNR_EDGES)} dB)")
        ax.set_ylabel(f"Δ {tables.metric_name(metric)} over the input")
        ax.legend(loc="best", fontsize="small")
        return to_base64(fig)
