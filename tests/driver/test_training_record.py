"""training.csv: each model's gain over the last quarter of its training, from the learning curve fit()
keeps in the model folder (val_log.jsonl), so the report can check convergence without the models."""
import json

import pandas as pd
import pytest

from benchmark.config import compose
from benchmark.driver import training_record
from benchmark.driver.cell import ensure_model
from benchmark.store import CONVERGENCE_GAIN, convergence, validation_curve


def _curve(folder, points, extra_lines=()):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": s, "pesq_wb": v, "loss": 0.1}) for s, v in points] + list(extra_lines)
    (folder / "val_log.jsonl").write_text("\n".join(lines) + "\n")


def test_the_gain_is_read_over_the_last_quarter_of_the_steps(tmp_path):
    _curve(tmp_path / "m", [(1000, 1.50), (2000, 1.80), (3000, 1.95), (4000, 1.96)])
    found = convergence(tmp_path / "m")
    assert (found["from_step"], found["steps"]) == (3000, 4000)
    assert found["gain"] == pytest.approx(0.01) and found["converged"] and found["limit"] == CONVERGENCE_GAIN
    _curve(tmp_path / "m", [(1000, 1.50), (2000, 1.80), (3000, 1.90), (4000, 1.96)])
    assert convergence(tmp_path / "m")["gain"] == pytest.approx(0.06) and not convergence(tmp_path / "m")["converged"]


def test_a_resumed_runs_repeated_step_counts_once_and_a_torn_line_is_skipped(tmp_path):
    _curve(tmp_path / "m", [(3000, 1.90), (4000, 1.50), (4000, 1.91)], extra_lines=['{"step": 45'])
    assert [e["pesq_wb"] for e in validation_curve(tmp_path / "m")] == [1.90, 1.91]
    assert convergence(tmp_path / "m")["to_value"] == 1.91


def test_too_short_a_curve_or_none_records_nothing(tmp_path):
    assert convergence(tmp_path / "absent") is None
    _curve(tmp_path / "m", [(4000, 1.9)])
    assert convergence(tmp_path / "m") is None
    assert training_record.record(tmp_path / "study", "abc", tmp_path / "m", 8) is None
    assert not (tmp_path / "study" / "training.csv").exists()
    assert training_record.read(tmp_path / "study").empty


def test_a_trained_model_gets_one_row_replaced_on_a_second_record(tmp_path, tiny):
    cfg = compose(tiny + ["trainer.max_steps=8", "trainer.val_every=2", "trainer.val_utterances=2"])
    folder, _, _ = ensure_model(cfg, tmp_path / "models", progress=False)
    steps = [e["step"] for e in validation_curve(folder)]
    assert steps == [2, 4, 6, 8] and all("pesq_wb" in e for e in validation_curve(folder))
    out = tmp_path / "results" / "smoke"
    row = training_record.record(out, folder.name, folder, 2)
    assert (row["from_step"], row["steps"], row["val_utterances"]) == (6, 8, 2)
    training_record.record(out, "other", folder, 2)
    training_record.record(out, folder.name, folder, 2)
    table = pd.read_csv(out / "training.csv", dtype={"training_hash": str})
    assert sorted(table["training_hash"]) == sorted([folder.name, "other"])
    assert list(table.columns) == list(training_record.COLUMNS)
