"""Post hoc: a finished cell scored again on the model now in results/models, paired per utterance.

    python perf/retrained_twin.py sampler_ablation 93587e37 --splits test

A study that resumes on another machine trains its models again there. Training is deterministic
for a given host and precision, but an AVX2 pair trains in fp32 and an AVX512-BF16 pair in bf16
autocast (`trainer.precision: auto`), so the same training config gives other weights there, and a
study's cells can end up scored on two twins of one model. This scores the cell's own config (same
seed, sampler and utterances) on the twin at hand and prints, per split and metric, the paired mean
difference twin − kept with its 95% CI: the size of the twin effect to read the study's gaps against.
"""
import argparse
import math
from pathlib import Path

import pandas as pd
import torch

from benchmark.driver.cell import evaluate_cell
from benchmark.driver.grid import expand, load_study


def paired(kept: pd.DataFrame, twin: pd.DataFrame) -> pd.DataFrame:
    """Per split and metric: n, the kept and twin means, twin − kept and its normal 95% CI."""
    both = kept.merge(twin, on=["split", "name", "metric"], suffixes=("_kept", "_twin"))
    rows = []
    for (split, metric), g in both.groupby(["split", "metric"]):
        d = g["output_twin"] - g["output_kept"]
        rows.append(dict(split=split, metric=metric, n=len(d), kept=g["output_kept"].mean(),
                         twin=g["output_twin"].mean(), diff=d.mean(),
                         ci95=1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")))
    return pd.DataFrame(rows)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("study")
    p.add_argument("cell", help="a finished cell's hash (results/<study>/cells/<hash>/per_utterance.csv)")
    p.add_argument("--splits", default="test")
    p.add_argument("--results", default="results")
    p.add_argument("--utterances", type=int, default=None, help="the first N of each split")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cell = next((c for c in expand(load_study(a.study)) if c.hash == a.cell), None)
    if cell is None:
        raise SystemExit(f"{a.study}: no cell {a.cell} in its grid")
    cfg = cell.config
    if a.utterances is not None:
        cfg.eval.max_utterances = a.utterances
    kept_file = Path(a.results) / a.study / "cells" / a.cell / "per_utterance.csv"
    kept = pd.read_csv(kept_file)
    folder = Path(a.results) / "models" / cell.training_hash
    twin, _ = evaluate_cell(cfg, folder, a.splits.split(","), progress=False,
                            input_cache=Path(a.results) / "input_scores")
    cols = ["split", "name", "metric", "output"]
    out = paired(kept[cols], twin[cols])
    print(f"{a.study} {a.cell} on {folder} (twin) against {kept_file} (kept):")
    print(out.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
