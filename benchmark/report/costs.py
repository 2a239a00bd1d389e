"""Measured real-time factors, kept apart by the host that measured them.

A study's cells may be scored on more than one machine (a bf16 twin, a resumed run elsewhere), and
an RTF from one host says nothing about another's: AVX512 with native bf16 runs the same NFE in about
two thirds of AVX2's time. So the page gives each host its own RTF column and its own cost-plot
panel, and marks a cell whose RTF is far above its host's other cells, or above its own RTF on the
study's other splits, as likely contended (another job shared the CPU while it was timed) rather than
let it stand for the method's cost.
"""
from __future__ import annotations

import re

import pandas as pd

# RTF/NFE more than this many times its host's median over the diffusion cells: "contended?".
# Per NFE the cost is near constant on one host (up to 1.9× of the median on the committed runs:
# an NFE-1 cell carries the STFT's fixed share), so 3× is a run slowed by something else.
CONTENDED = 3.0
# A cell's RTF on one split more than this many times its median over the splits (three or more): the
# same model, sampler and host, so nothing but the machine's load moves it (up to 1.5× on the committed
# runs; sampler_ablation's PC · 16 took 2.5× on test what it took on the other two).
CONTENDED_SELF = 2.0
UNKNOWN = "unknown host"


def _timed(summary: pd.DataFrame) -> pd.DataFrame:
    if "rtf" not in summary:
        return summary.iloc[:0]
    rows = summary[(summary["kind"] != "input") & (summary["rtf"] > 0)]
    return rows.assign(host=_host(rows))


def _host(rows: pd.DataFrame) -> pd.Series:
    device = rows["device"] if "device" in rows else pd.Series("", index=rows.index)
    return device.fillna("").astype(str).replace("", UNKNOWN)


def hosts(summary: pd.DataFrame) -> list[str]:
    """The devices that timed this split's cells, the one that timed most first."""
    counts = _timed(summary)["host"].value_counts()
    return sorted(counts.index, key=lambda h: (-counts[h], h))


def short_names(devices: list[str]) -> dict[str, str]:
    """A column header per host: what tells it from the others ("AVX2", "AVX512 with native bf16"),
    the full name in the note below; letters where the names share every part."""
    if len(devices) < 2:
        return {d: d for d in devices}
    parts = {d: [p.strip() for p in re.split(r"[(),]", d) if p.strip()] for d in devices}
    common = set.intersection(*(set(p) for p in parts.values()))
    names = {d: ", ".join(p for p in parts[d] if p not in common) for d in devices}
    if "" in names.values() or len(set(names.values())) < len(devices):
        names = {d: f"host {chr(ord('A') + i)}" for i, d in enumerate(devices)}
    return names


def contended(summary: pd.DataFrame, table: pd.DataFrame | None = None) -> pd.Series:
    """Why a cell's RTF looks contended, indexed like `summary` ("" where it does not): RTF/NFE above
    CONTENDED × the median of its host's diffusion cells (three or more), or, given the whole `table`,
    its RTF above CONTENDED_SELF × the same cell's median over the study's splits (three or more)."""
    out = pd.Series("", index=summary.index, dtype=object)
    timed = _timed(summary)
    diffusion = timed[(timed["kind"] == "diffusion") & (timed["nfe"] > 0)]
    for _, group in diffusion.groupby("host"):
        if len(group) >= 3:
            ratio = (group["rtf"] / group["nfe"]) / (group["rtf"] / group["nfe"]).median()
            for i, r in ratio[ratio > CONTENDED].items():
                out[i] = f"RTF/NFE {r:.1f}× its host's median"
    if table is not None and "rtf" in table and len(timed):
        per_split = table[table["rtf"] > 0].drop_duplicates(["cell", "split"], keep="last")
        splits = per_split.groupby("cell")["rtf"].agg(["median", "size"])
        for i, row in timed.iterrows():
            if row["cell"] in splits.index and splits.at[row["cell"], "size"] >= 3 and not out[i]:
                r = row["rtf"] / splits.at[row["cell"], "median"]
                out[i] = f"RTF {r:.1f}× this cell's median over the splits" if r > CONTENDED_SELF else ""
    return out


def table_columns(summary: pd.DataFrame, table: pd.DataFrame | None = None) -> tuple[list[dict], list[list[dict]]]:
    """(one header per host, per row of `summary` one entry per host): the main table's RTF columns.
    A cell's RTF stands only in its own host's column; a contended one carries its ratio."""
    devices = hosts(summary)
    names = short_names(devices)
    counts = _timed(summary)["host"].value_counts()
    headers = [{"name": names[d], "device": d, "n": int(counts[d])} for d in devices] or [
        {"name": "", "device": "", "n": 0}]
    flagged = contended(summary, table)
    timed = _timed(summary)
    rows = []
    for index in summary.index:
        entry = []
        for header in headers:
            hit = index in timed.index and timed.at[index, "host"] == header["device"]
            entry.append({"text": f"{summary.at[index, 'rtf']:.3f}" if hit else "—",
                          "contended": flagged[index] if hit else ""})
        rows.append(entry)
    return headers, rows


def hosts_text(summary: pd.DataFrame) -> str:
    """The hosts in words, for a caption: 'cpu (…) (7 cells)'; 'short = full (n cells); …' for several."""
    devices = hosts(summary)
    if not devices:
        return "the device that ran it"
    counts, names = _timed(summary)["host"].value_counts(), short_names(devices)
    if len(devices) == 1:
        return devices[0]
    return "; ".join(f"{names[d]} = {d} ({counts[d]} cell{'' if counts[d] == 1 else 's'})" for d in devices)


def left_out(summary: pd.DataFrame, table: pd.DataFrame | None = None) -> list[str]:
    """The contended cells a cost plot leaves out, each with its reason, for the caption."""
    flagged = contended(summary, table)
    return [f"{summary.at[i, 'label']} ({why})" for i, why in flagged[flagged != ""].items()]


def contended_note(summary: pd.DataFrame, table: pd.DataFrame | None = None) -> str:
    """What the table's "contended?" mark means, where a cell carries it; "" where none does."""
    if not contended(summary, table).any():
        return ""
    return (f"contended?: RTF/NFE more than {CONTENDED:g}× the median of its host's diffusion cells, or RTF "
            f"more than {CONTENDED_SELF:g}× the same cell's on the other splits: a run that likely shared its "
            "CPU while timed (the mark's tooltip says which; its RTF is left out of the cost plot)")
