"""Every split's main table as CSV and LaTeX next to the HTML, to paste into a paper as it is.

    reports/<study>/<split>.csv   one row per cell: its hash as text (`#93587e37`: bare, pandas and
                                  spreadsheets read it as the number 9.36e+41), label, axes, NFE, then
                                  per metric the mean, its 95% CI and the delta over the noisy input
    reports/<study>/<split>.tex   a booktabs tabular: mean ± CI at the report's decimals, the best
                                  cells the report marks in bold (not distinguishable from the
                                  best by a paired test, else the best value; ties all bold), the noisy
                                  input as the last row; needs \\usepackage{booktabs}
    reports/<study>/tables.md     every split side by side as one Markdown table (a cell per row,
                                  "metric / metric / …" per split, the input's means in the
                                  header), the same bold: what a reference-run page (docs/reference-runs/) quotes,
                                  so its numbers come from the command, not from hand copying
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


def write(frame: pd.DataFrame, metrics: Sequence[str], folder: Path, split: str,
          caption: str = "") -> list[Path]:
    """Write <folder>/<split>.csv and .tex of a `marked_frame`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, tex_path = folder / f"{split}.csv", folder / f"{split}.tex"
    text = frame.assign(cell=[f"#{c}" if c else c for c in frame["cell"].fillna("")]) if "cell" in frame else frame
    text.to_csv(csv_path, index=False, float_format="%.6g")
    tex_path.write_text(to_latex(frame, metrics, caption), encoding="utf-8")
    return [csv_path, tex_path]


def marked_frame(summary: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str],
                 reference: dict | None = None, bold: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """`table_frame` with the report's bold marks kept as `<m>_bold` (what every export shows).
    `bold`: per metric, the cells to set bold, aligned with `summary`."""
    if bold:
        summary = summary.assign(**{f"{m}_bold": flags for m, flags in bold.items()})
    return table_frame(summary, axes, metrics, reference)


def to_markdown(frames: dict[str, pd.DataFrame], metrics: Sequence[str], caption: str = "") -> str:
    """`frames`: split -> `table_frame` output (with `<m>_bold`), in the report's split order. Rows
    follow the first split's order (best first); a cell absent from a split reads "–"."""
    def entry(row, m):
        value, flag = row.get(m, float("nan")), row.get(f"{m}_bold", False)
        text = tables.fmt(value, m)
        return f"**{text}**" if pd.notna(value) and pd.notna(flag) and bool(flag) else text

    systems = {split: f[f["kind"] != "input"].set_index("cell") for split, f in frames.items()}
    cells = list(dict.fromkeys(cell for s in systems.values() for cell in s.index))
    head = ["cell", "NFE"]
    for split, f in frames.items():
        noisy = f[f["kind"] == "input"]
        inputs = " / ".join(entry(noisy.iloc[0], m) for m in metrics) if len(noisy) else "n/a"
        head.append(f"{split} (input {inputs})")
    lines = ([caption, ""] if caption else []) + ["| " + " | ".join(head) + " |",
                                                  "|" + "---|" * len(head)]
    for cell in cells:
        first = next(s.loc[cell] for s in systems.values() if cell in s.index)
        row = [str(first["label"]).replace("|", "\\|"),
               "–" if pd.isna(first.get("nfe")) else f"{int(first['nfe'])}"]
        for split in frames:
            s = systems[split]
            row.append(" / ".join(entry(s.loc[cell], m) for m in metrics) if cell in s.index else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(frames: dict[str, pd.DataFrame], metrics: Sequence[str], folder: Path,
                   caption: str = "") -> Path:
    path = folder / "tables.md"
    path.write_text(to_markdown(frames, metrics, caption), encoding="utf-8")
    return path
