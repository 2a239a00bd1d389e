"""Paired differences between cells that differ in one axis value (paired.py, pairs.csv)."""
import math

import numpy as np
import pandas as pd
import pytest

from benchmark.report import build_report, paired_stats
from benchmark.report.load import load_cells, load_study
from benchmark.report.tables import grid_points

from .conftest import STUDY

N = 50
EFFECT = {"ouve": 0.0, "ouvp": 0.1, "oucosine": 0.2}       # the sde's true effect on every score


def _agree(dirs, splits, metrics):
    """cells.csv cut to the splits and metrics the per-utterance files hold, N utterances each: the
    report refuses a cell whose file holds another count than its rows of cells.csv say it scored."""
    table = dirs.table()
    table = table[table["split"].isin(splits) & table["metric"].isin(metrics)].copy()
    table["n"], table["n_nan"] = str(N), "0"
    dirs.save(table)


def _write_scores(dirs, rng=np.random.default_rng(0)):
    """Per-utterance files for the fixture's diffusion cells: a shared per-utterance level (what
    pairing removes), the sde's effect, and a little noise of the cell's own."""
    _agree(dirs, ("test", "test_mismatched"), ("pesq_wb", "estoi"))
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    table = load_cells(dirs.cells, study)
    cells = table[table["kind"] == "diffusion"].drop_duplicates("cell")
    level = rng.normal(0, 1.0, N)
    for _, cell in cells.iterrows():
        rows = [pd.DataFrame({"split": split, "name": [f"u{i}" for i in range(N)], "metric": metric,
                              "input": level, "output": level + EFFECT[cell["sde"]]
                              + rng.normal(0, 0.02, N)})
                for split in ("test", "test_mismatched") for metric in ("pesq_wb", "estoi")]
        folder = dirs.results / STUDY / "cells" / cell["cell"]
        folder.mkdir(parents=True)
        pd.concat(rows).to_csv(folder / "per_utterance.csv", index=False)
    return study, table, cells


def test_each_value_is_paired_with_the_reference_in_each_context(dirs):
    study, table, cells = _write_scores(dirs)
    pairs = paired_stats.compute(table, study, dirs.results / STUDY / "cells")
    # sde: 2 values × 3 sampler contexts; sampler: 2 values × 3 sde contexts; × 2 splits × 2 metrics
    assert len(pairs) == (6 + 6) * 2 * 2
    sde = pairs[(pairs["axis"] == "sde") & (pairs["split"] == "test") & (pairs["metric"] == "pesq_wb")]
    assert set(sde["reference"]) == {"ouve"} and set(sde["value"]) == {"ouvp", "oucosine"}
    row = sde[(sde["value"] == "oucosine") & (sde["context"] == "sampler=heun N=8")].iloc[0]
    a, b = (pd.read_csv(dirs.results / STUDY / "cells" / h / "per_utterance.csv")
            .query("split == 'test' and metric == 'pesq_wb'")["output"].to_numpy()
            for h in (row["cell"], row["reference_cell"]))
    assert row["mean"] == pytest.approx(np.mean(a - b)) and row["n"] == N
    assert row["mean"] == pytest.approx(0.2, abs=0.02)
    # Pairing removes the shared per-utterance level: far tighter than the cells' own CIs combined.
    unpaired = 1.96 * math.hypot(a.std(ddof=1), b.std(ddof=1)) / math.sqrt(N)
    assert row["ci95"] < unpaired / 10
    sampler = pairs[pairs["axis"] == "sampler"]
    assert sampler["mean"].abs().max() < 0.05                 # the sampler has no effect here


def test_pairs_need_both_cells_scores(dirs):
    study, table, cells = _write_scores(dirs)
    root = dirs.results / STUDY / "cells"
    reference = cells[(cells["sde"] == "ouve") & (cells["sampler"] == "pc N=30")]["cell"].iloc[0]
    (root / reference / "per_utterance.csv").unlink()
    pairs = paired_stats.compute(table, study, root)
    assert reference not in set(pairs["reference_cell"]) | set(pairs["cell"])
    assert len(pairs) == (4 + 4) * 2 * 2            # it was the reference in one context of each axis
    for folder in root.iterdir():
        (folder / "per_utterance.csv").unlink(missing_ok=True)
    assert paired_stats.compute(table, study, root) is None


def test_report_keeps_pairs_csv_and_reads_it_back_without_the_scores(dirs):
    _write_scores(dirs)
    html = build_report(*dirs.args()).read_text()
    kept = dirs.results / STUDY / "pairs.csv"
    assert kept.is_file() and "Paired differences" in html and "+0.20 ± " in html
    for folder in (dirs.results / STUDY / "cells").iterdir():
        (folder / "per_utterance.csv").unlink()
    again = build_report(*dirs.args()).read_text()
    assert "+0.20 ± " in again and pd.read_csv(kept).shape[0] == 48
    kept.unlink()
    assert "Paired differences" not in build_report(*dirs.args()).read_text()


def test_a_rebuild_with_some_cells_scores_missing_keeps_their_kept_pairs(dirs):
    """A run over fresh machines (or an older run) has some cells' per-utterance files and not
    others': pairs.csv keeps what it cannot redo instead of shrinking to what it can."""
    study, table, cells = _write_scores(dirs)
    build_report(*dirs.args())
    kept = dirs.results / STUDY / "pairs.csv"
    full = pd.read_csv(kept).sort_values(["cell", "reference_cell", "split", "metric"], ignore_index=True)
    reference = cells[(cells["sde"] == "ouve") & (cells["sampler"] == "pc N=30")]["cell"].iloc[0]
    (dirs.results / STUDY / "cells" / reference / "per_utterance.csv").unlink()
    build_report(*dirs.args())
    again = pd.read_csv(kept).sort_values(["cell", "reference_cell", "split", "metric"], ignore_index=True)
    assert len(again) == len(full) == 48
    pd.testing.assert_frame_equal(again, full)          # the same numbers and Holm adjustment


def test_grid_points_drop_excluded_cells_and_add_extra_ones(dirs):
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    assert len(grid_points(study)) == 9
    study.raw["exclude"] = [{"sde": "ouve", "sampler": "pc N=30"}]
    study.raw["extra"] = [{"axes": {"sde": "bbed", "sampler": "heun N=8"}, "overrides": ["sde=bbed"]}]
    points = grid_points(study)
    assert len(points) == 9 and ("ouve", "pc N=30") not in points and points[-1] == ("bbed", "heun N=8")


def test_holm_matches_a_hand_computation():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (kept monotone), 0.5; NaN left out
    got = paired_stats.holm([0.03, 0.5, 0.01, float("nan"), 0.02])
    assert got[:3] == pytest.approx([0.06, 0.5, 0.04]) and math.isnan(got[3])
    assert got[4] == pytest.approx(0.06)
    assert paired_stats.holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])       # capped, then monotone


def test_a_mean_the_ranks_contradict_is_never_a_verdict():
    from scipy.stats import wilcoxon
    rng = np.random.default_rng(0)
    # 180 utterances a little better, 20 much worse: the mean is below 0, the ranks lean above it
    skewed = np.concatenate([rng.uniform(0.05, 0.15, 180), rng.uniform(-1.5, -1.0, 20)])
    assert skewed.mean() < 0 and wilcoxon(skewed).pvalue < 1e-6          # the two-sided test alone: "worse"
    assert paired_stats.wilcoxon_p(skewed) == 1.0
    assert paired_stats.verdict(skewed.mean(), 0.01, paired_stats.wilcoxon_p(skewed)) == 0
    # where the ranks lean the mean's way it is the usual two-sided p, and the sign is the mean's
    shifted = skewed + 0.3
    assert shifted.mean() > 0
    assert paired_stats.wilcoxon_p(shifted) == pytest.approx(wilcoxon(shifted).pvalue)
    assert paired_stats.verdict(shifted.mean(), 0.01, paired_stats.wilcoxon_p(shifted)) == 1
    assert paired_stats.wilcoxon_p(-shifted) == pytest.approx(wilcoxon(shifted).pvalue)


def test_every_pair_has_a_wilcoxon_p_adjusted_within_its_split_and_metric(dirs):
    from scipy.stats import wilcoxon
    study, table, cells = _write_scores(dirs)
    pairs = paired_stats.compute(table, study, dirs.results / STUDY / "cells")
    row = pairs[(pairs["axis"] == "sde") & (pairs["value"] == "oucosine") & (pairs["split"] == "test")
                & (pairs["metric"] == "pesq_wb")].iloc[0]
    a, b = (pd.read_csv(dirs.results / STUDY / "cells" / h / "per_utterance.csv")
            .query("split == 'test' and metric == 'pesq_wb'")["output"].to_numpy()
            for h in (row["cell"], row["reference_cell"]))
    assert row["p_wilcoxon"] == pytest.approx(wilcoxon(a - b).pvalue)
    family = pairs[(pairs["split"] == "test") & (pairs["metric"] == "pesq_wb")]
    assert family["p_holm"].to_numpy() == pytest.approx(paired_stats.holm(family["p_wilcoxon"]))
    assert row["p_holm"] < 0.001                                     # a real effect survives Holm
    assert family[family["axis"] == "sampler"]["p_holm"].min() > 0.01    # no effect: no finding
    html = build_report(*dirs.args()).read_text()
    assert "p &lt; 0.001" in html and "Holm-adjusted" in html


def _scores_by_rank(dirs, effects, split="test", metric="pesq_wb", rng=np.random.default_rng(1)):
    """Per-utterance files for the split's systems: the k-th best cell of cells.csv gets
    effects[k] (the rest 0), over a shared per-utterance level."""
    _agree(dirs, (split,), (metric,))
    table = dirs.table()
    rows = table[(table["split"] == split) & (table["metric"] == metric) & (table["which"] == "output")
                 & (table["kind"] != "input")]
    ranked = list(rows.sort_values("mean", key=lambda s: s.astype(float), ascending=False)["cell"])
    level = rng.normal(0, 1.0, N)
    for k, cell in enumerate(ranked):
        effect = effects[k] if k < len(effects) else 0.0
        frame = pd.DataFrame({"split": split, "name": [f"u{i}" for i in range(N)], "metric": metric,
                              "input": level, "output": level + effect + rng.normal(0, 0.05, N)})
        folder = dirs.results / STUDY / "cells" / cell
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_csv(folder / "per_utterance.csv", index=False)
    return ranked


def test_cells_not_distinguishable_from_the_best_are_bold(dirs):
    from scipy.stats import wilcoxon
    ranked = _scores_by_rank(dirs, effects=[0.3, 0.3, 0.3])
    table = load_cells(dirs.cells, load_study(dirs.studies / f"{STUDY}.yaml"))
    vs = paired_stats.versus_best(table, dirs.results / STUDY / "cells")
    family = vs[(vs["split"] == "test") & (vs["metric"] == "pesq_wb")]
    assert set(family["best_cell"]) == {ranked[0]} and set(family["cell"]) == set(ranked[1:])
    scores = {c: pd.read_csv(dirs.results / STUDY / "cells" / c / "per_utterance.csv")["output"].to_numpy()
              for c in ranked}
    diffs = [scores[c] - scores[ranked[0]] for c in family["cell"]]
    # the two-sided p where the ranks lean the mean's way, else 1 (wilcoxon_p: the mean's direction)
    raw = [wilcoxon(d).pvalue if wilcoxon(d, alternative="greater" if d.mean() > 0 else "less").pvalue < 0.5
           else 1.0 for d in diffs]
    assert family["p_wilcoxon"].to_numpy() == pytest.approx(raw)
    assert family["p_holm"].to_numpy() == pytest.approx(paired_stats.holm(raw))
    assert paired_stats.tied_with_best(vs, "test", "pesq_wb") == set(ranked[:3])
    assert paired_stats.tied_with_best(vs, "test", "si_sdr") is None          # no scores: no test
    html = build_report(*dirs.args()).read_text()
    assert "not distinguishable from the column" in html
    assert (dirs.results / STUDY / "vs_best.csv").is_file()
    tex = (dirs.reports / STUDY / "test.tex").read_text()
    body = [line for line in tex.splitlines() if line.endswith(r"\\") and "System" not in line]
    pesq_bold = [line.split(" & ")[2].startswith(r"$\textbf") for line in body]
    assert sum(pesq_bold) == 3
    exported = pd.read_csv(dirs.reports / STUDY / "test.csv", dtype={"cell": str})
    assert set(exported.loc[exported["pesq_wb_bold"] == True, "cell"].str[1:]) == set(ranked[:3])  # noqa: E712


def test_git_keeps_each_cells_per_utterance_scores_and_ignores_the_rest_of_its_folder():
    """Paired tests over cells run in different sessions on fresh machines need every cell's
    per-utterance scores: they are committed with a run's results; audio and configs are not."""
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    folder = "results/some_study/cells/0123abcd"
    paths = [f"{folder}/per_utterance.csv", f"{folder}/summary.csv", f"{folder}/config.yaml",
             f"{folder}/examples/test_x_noisy.wav"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=repo, capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(paths[1:])
