"""The budget curves in one figure: each curve's studied system (the config's sampler, or the
predictive model) by training step, PESQ-WB and SI-SDR on the split it was validated on, with the
noisy input and, for scale, a reference study's finished cells (the old budget) at their own step.

    python perf/plot_curves.py recommended=docs/curves/b16k_rec.jsonl SGMSE+=docs/curves/b16k_sgmse.jsonl \
        --reference results/headline --out docs/figures/budget-curves.png

Each curve is a curve.jsonl that `perf/learning_curve.py --out` keeps (copied next to the docs so the
figure rebuilds from git); its rows are (minutes, step, split, system, pesq_wb, estoi, si_sdr).
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from learning_curve import METRICS, OWN_SAMPLER, PREDICTIVE, read_records  # noqa: E402  (perf/, on the path when run as a script)

COLUMNS = ["minutes", "step", "split", "system", *METRICS]       # a curve row, as learning_curve writes it
SHOWN = {"pesq_wb": "PESQ-WB", "si_sdr": "SI-SDR (dB)"}


def read_curve(path: Path) -> pd.DataFrame:
    """The validation rows of one curve.jsonl, read by its owner's rule (learning_curve.read_records)."""
    rows = [r["row"] for r in read_records(Path(path)) if "row" in r]
    if not rows:
        raise SystemExit(f"{path}: no validation rows (is it a perf/learning_curve.py curve.jsonl?)")
    return pd.DataFrame(rows, columns=COLUMNS)


def studied(curve: pd.DataFrame, split: str) -> pd.DataFrame:
    """The studied system's rows on `split`, one per step: the config's sampler, else the predictive model."""
    part = curve[curve["split"] == split]
    names = [s for s in part["system"].unique() if s.startswith(OWN_SAMPLER) or s == PREDICTIVE]
    if not names:
        raise SystemExit(f"no studied system on split {split} (systems: {sorted(part['system'].unique())})")
    return part[part["system"] == names[0]].drop_duplicates("step", keep="last").sort_values("step")


def reference_points(folder: Path, split: str) -> pd.DataFrame:
    """A reference study's cells on `split`: label, steps trained, and the output mean per metric."""
    table = pd.read_csv(Path(folder) / "cells.csv")
    out = table[(table["split"] == split) & (table["which"] == "output") & table["metric"].isin(list(SHOWN))]
    return out.pivot_table(index=["label", "train_steps"], columns="metric", values="mean").reset_index()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("curves", nargs="+", metavar="LABEL=CURVE", help="a label and a curve.jsonl")
    p.add_argument("--split", default="test")
    p.add_argument("--reference", type=Path, default=None, help="a results/<study> folder drawn for scale")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    fig, axes = plt.subplots(1, len(SHOWN), figsize=(10, 4.2))
    noisy = None
    for item in a.curves:
        label, _, path = item.partition("=")
        if not path:
            p.error(f"{item}: give LABEL=PATH")
        curve = read_curve(Path(path))
        inp = curve[(curve["split"] == a.split) & (curve["system"] == "noisy input")]
        noisy = inp.iloc[0] if len(inp) else noisy
        rows = studied(curve, a.split)
        for ax, metric in zip(axes, SHOWN):
            ax.plot(rows["step"], rows[metric], marker="o", label=f"{label} ({rows['system'].iloc[0]})")
    if a.reference is not None:
        for _, r in reference_points(a.reference, a.split).iterrows():
            for ax, metric in zip(axes, SHOWN):
                ax.plot(r["train_steps"], r[metric], marker="x", color="0.3", linestyle="none")
                ax.annotate(r["label"], (r["train_steps"], r[metric]), fontsize=6, xytext=(4, 2),
                            textcoords="offset points", color="0.3")
    for ax, (metric, name) in zip(axes, SHOWN.items()):
        if noisy is not None:
            ax.axhline(noisy[metric], linestyle="--", color="0.5", linewidth=1, label="noisy input")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{name}, {a.split} split")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(labels), frameon=False)
    if a.reference is not None:
        fig.suptitle(f"× {a.reference.name}'s reference cells at their budget", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
