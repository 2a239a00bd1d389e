import math

import numpy as np
import pandas as pd
import pytest

from benchmark.report.load import load_cells, load_study
from benchmark.report.tables import (
    axis_pivot,
    best_flags,
    cell_summary,
    noisy_reference,
    pooled_ci,
    report_metrics,
    split_order,
    two_axis_grid,
)

from .conftest import STUDY

METRICS = ["pesq_wb", "estoi", "si_sdr"]


def load(dirs):
    study = load_study(dirs.studies / f"{STUDY}.yaml")
    return study, load_cells(dirs.cells, study)


def raw(table, cell, metric, which, split="test"):
    hit = table[(table["cell"] == cell) & (table["metric"] == metric)
                & (table["which"] == which) & (table["split"] == split)]
    return float(hit["mean"].iloc[-1])


def test_one_row_per_cell_sorted_by_the_primary_metric(dirs):
    study, table = load(dirs)
    summary = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb")
    assert sorted(summary["cell"]) == sorted(table["cell"].unique())
    assert summary["pesq_wb"].is_monotonic_decreasing
    for _, row in summary.iterrows():
        assert row["estoi"] == raw(table, row["cell"], "estoi", "output")
        if row["kind"] != "input":
            assert row["si_sdr_delta"] == raw(table, row["cell"], "si_sdr", "delta")
    inp = summary[summary["kind"] == "input"].iloc[0]
    assert math.isnan(inp["pesq_wb_delta"])          # the input has no delta over itself


def test_input_row_written_only_as_which_input_still_has_an_output(dirs):
    study, table = load(dirs)
    table = table[~((table["kind"] == "input") & (table["which"] != "input"))]
    summary = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb")
    inp = summary[summary["kind"] == "input"].iloc[0]
    assert inp["pesq_wb"] == raw(table, inp["cell"], "pesq_wb", "input")


def test_a_cell_written_twice_counts_once_with_its_last_value(dirs):
    study, table = load(dirs)
    cell = table[table["kind"] == "diffusion"]["cell"].iloc[0]
    again = table[(table["cell"] == cell)].copy()
    again.loc[again["which"] == "output", "mean"] += 1.0
    table = pd.concat([table, again], ignore_index=True)
    summary = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb")
    assert (summary["cell"] == cell).sum() == 1
    assert summary.iloc[0]["cell"] == cell            # +1 PESQ puts it on top
    assert summary.iloc[0]["pesq_wb"] == raw(table, cell, "pesq_wb", "output")


def test_nan_scores_sort_last(dirs):
    study, table = load(dirs)
    top = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb").iloc[0]["cell"]
    table.loc[(table["cell"] == top) & (table["metric"] == "pesq_wb"), "mean"] = np.nan
    summary = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb")
    assert summary.iloc[-1]["cell"] == top


def test_noisy_reference_from_input_row_or_from_the_cells(dirs):
    _, table = load(dirs)
    inp = table[(table["kind"] == "input") & (table["split"] == "test")
                & (table["metric"] == "estoi") & (table["which"] == "output")]
    assert noisy_reference(table, "test", "estoi")[0] == float(inp["mean"].iloc[0])
    no_input_rows = table[table["kind"] != "input"]
    rows = no_input_rows
    carried = rows[(rows["split"] == "test") & (rows["metric"] == "estoi")
                   & (rows["which"] == "input")]["mean"]
    assert noisy_reference(no_input_rows, "test", "estoi")[0] == pytest.approx(carried.median())
    assert math.isnan(noisy_reference(table, "nosuchsplit", "estoi")[0])


def test_axis_pivot_is_the_mean_over_the_other_axes(dirs):
    study, table = load(dirs)
    summary = cell_summary(table, "test", list(study.axes), METRICS, "pesq_wb")
    pivot = axis_pivot(summary, "sde", study.axes["sde"], METRICS)
    assert list(pivot["value"]) == study.axes["sde"]
    for _, row in pivot.iterrows():
        rows = table[(table["sde"] == row["value"]) & (table["split"] == "test")
                     & (table["metric"] == "si_sdr") & (table["which"] == "output")]
        assert row["cells"] == len(rows) == 3
        assert row["si_sdr"] == pytest.approx(rows["mean"].mean())


def test_pooled_ci_and_missing_cells_in_the_grid(dirs):
    assert pooled_ci(pd.Series([0.3, 0.4])) == pytest.approx(0.25)
    assert math.isnan(pooled_ci(pd.Series([np.nan])))
    study, table = load(dirs)
    dropped = table[~((table["sde"] == "ouvp") & (table["sampler"] == "heun N=4"))]
    summary = cell_summary(dropped, "test", list(study.axes), METRICS, "pesq_wb")
    grid = two_axis_grid(summary, "sde", "sampler", study.axes, "pesq_wb")
    assert list(grid.index) == study.axes["sde"] and list(grid.columns) == study.axes["sampler"]
    assert math.isnan(grid.loc["ouvp", "heun N=4"])
    assert grid.notna().sum().sum() == 8


def test_best_flags_mark_ties_and_nothing_when_all_nan():
    assert list(best_flags(pd.Series([1.0, 3.0, 3.0, np.nan]))) == [False, True, True, False]
    assert not best_flags(pd.Series([np.nan, np.nan])).any()


def test_split_and_metric_order(dirs):
    _, table = load(dirs)
    reordered = pd.concat([table[table["split"] != "test"], table[table["split"] == "test"]])
    assert split_order(reordered)[0] == "test"
    assert report_metrics(table, "stoi") == ["stoi", "pesq_wb", "estoi", "si_sdr"]
    assert report_metrics(table[table["metric"] != "estoi"], "pesq_wb") == ["pesq_wb", "si_sdr"]
