"""Every split's main table as CSV and LaTeX next to the HTML, to paste into a paper as it is.

    reports/<study>/<split>.csv   one row per cell: label, axes, NFE, then per metric the mean,
                                  its 95% CI and the delta over the noisy input (full precision)
    reports/<study>/<split>.tex   a booktabs tabular: mean ± CI at the report's decimals, the best
                                  cells the report marks in bold (not distinguishable from the
                                  best by a paired test, else the best value; ties all bold), the noisy
                                  input as the last row; needs \\usepackage{booktabs}
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from . import tables

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
_UNICODE = {"σ": r"$\sigma$", "γ": r"$\gamma$", "·": r"$\cdot$", "∞": r"$\infty$", "×": r"$\times$",
            "−": "-", "—": "--", "→": r"$\to$"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    return "".join(_UNICODE.get(ch, ch) for ch in out)


def table_frame(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str],
                reference: dict | None = None) -> pd.DataFrame:
    """The main table as a tidy frame, in the report's order (best first, the input last).
    `reference`: metric -> (mean, ci95) of the noisy input, added as a row when the summary has
    none (a study whose driver wrote no input row carries the input in every cell's rows)."""
    columns = ["cell", "kind", "label", *axes, "nfe", "rtf"]
    out = summary[[c for c in columns if c in summary.columns]].copy()
    for m in metrics:
        out[m] = summary[m]
        out[f"{m}_ci95"] = summary[f"{m}_ci"]
        out[f"{m}_delta"] = summary[f"{m}_delta"].where(summary["kind"] != "input")
        if f"{m}_bold" in summary:
            out[f"{m}_bold"] = summary[f"{m}_bold"].astype(bool)
    if reference and not out["kind"].eq("input").any():
        row = {"cell": "", "kind": "input", "label": "noisy input"}
        for m in metrics:
            row[m], row[f"{m}_ci95"] = reference[m]
        out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
    order = out["kind"].eq("input").astype(int)
    return out.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o")


def to_latex(frame: pd.DataFrame, metrics: Sequence[str], caption: str = "") -> str:
    """`frame` may carry `<m>_bold` columns (the report's marks); else the best value is bold."""
    systems = frame[frame["kind"] != "input"]
    best = {m: (systems[f"{m}_bold"].astype(bool) if f"{m}_bold" in systems
                else tables.best_flags(systems[m])) for m in metrics}
    head = " & ".join(["System", "NFE"] + [latex_escape(tables.metric_name(m)) for m in metrics])
    lines = ([f"% {latex_escape(caption)}"] if caption else []) + [
        r"\begin{tabular}{l r " + " ".join("c" for _ in metrics) + "}", r"\toprule",
        head + r" \\", r"\midrule"]
    for index, row in frame.iterrows():
        if row["kind"] == "input" and len(systems):
            lines.append(r"\midrule")
        cells = [latex_escape(row["label"] or row["kind"]),
                 "--" if pd.isna(row.get("nfe")) or row["kind"] == "input" else f"{int(row['nfe'])}"]
        for m in metrics:
            mean, ci = row[m], row[f"{m}_ci95"]
            text = tables.fmt(mean, m) if pd.notna(mean) else "n/a"
            if pd.notna(mean) and index in best[m].index and bool(best[m][index]):
                text = rf"\textbf{{{text}}}"
            cells.append(f"${text} \\pm {tables.fmt(ci, m)}$" if pd.notna(ci) and pd.notna(mean)
                         else f"${text}$")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def write(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str], folder: Path,
          split: str, caption: str = "", reference: dict | None = None,
          bold: dict[str, pd.Series] | None = None) -> list[Path]:
    """Write <folder>/<split>.csv and .tex; return their paths. `bold`: per metric, the cells
    to set bold (aligned with `summary`), kept in the CSV as `<m>_bold`."""
    folder.mkdir(parents=True, exist_ok=True)
    if bold:
        summary = summary.assign(**{f"{m}_bold": flags for m, flags in bold.items()})
    frame = table_frame(summary, axes, metrics, reference)
    csv_path, tex_path = folder / f"{split}.csv", folder / f"{split}.tex"
    frame.to_csv(csv_path, index=False, float_format="%.6g")
    tex_path.write_text(to_latex(frame, metrics, caption), encoding="utf-8")
    return [csv_path, tex_path]
