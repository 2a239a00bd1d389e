"""ensure_model's records survive a kill at any point: an unreadable marker means "not done", and
the marker is written last, so a model whose export or MLflow logging broke off is completed (not
retrained) by the next call, and its run ends FINISHED with one point per step."""
import json

import pytest

from benchmark.config import compose, training_hash
from benchmark.driver.cell import append_rows, ensure_model
from benchmark.driver.tracking import Tracker
from benchmark.store import model_done


@pytest.fixture
def cfg(tiny):
    return compose(tiny + ["trainer.max_steps=6", "trainer.val_every=3", "trainer.log_every=1",
                           "trainer.checkpoint_every=2"])


def _history_steps(tracker, run_id, key):
    return sorted(m.step for m in tracker.client.get_metric_history(run_id, key))


def test_an_empty_done_marker_is_not_done_and_is_rewritten(cfg, tmp_path):
    folder, info, _ = ensure_model(cfg, tmp_path, progress=False)
    assert info["steps"] == 6 and (folder / "model.pt").is_file()
    (folder / "done.json").write_text("")               # what a kill inside a plain write_text leaves
    assert not model_done(folder)
    again, info2, _ = ensure_model(cfg, tmp_path, progress=False)
    assert again == folder and info2["resumed_from"] == 6          # completed, not retrained
    assert json.loads((folder / "done.json").read_text())["steps"] == 6


def test_a_break_after_training_is_completed_by_the_next_call(cfg, tmp_path, monkeypatch):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "t", tmp_path / "art")
    real = tracker.log_artifact

    def broken(run_id, path, subdir=None):
        if path.name == "model.pt":
            raise RuntimeError("the artifact store went away")
        return real(run_id, path, subdir)

    monkeypatch.setattr(tracker, "log_artifact", broken)
    with pytest.raises(RuntimeError):
        ensure_model(cfg, tmp_path / "models", tracker=tracker, progress=False)
    folder = tmp_path / "models" / training_hash(cfg)
    assert not (folder / "done.json").exists()          # the marker comes last
    run_id = tracker.find_run(training_hash=training_hash(cfg), role="training")
    assert tracker.client.get_run(run_id).info.status == "FAILED"
    monkeypatch.setattr(tracker, "log_artifact", real)
    _, info, again = ensure_model(cfg, tmp_path / "models", tracker=tracker, progress=False)
    assert again == run_id and info["resumed_from"] == 6 and model_done(folder)
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert any(a.path == "model.pt" for a in tracker.client.list_artifacts(run_id))
    assert _history_steps(tracker, run_id, "train_loss") == [1, 2, 3, 4, 5, 6]   # no step twice
    assert _history_steps(tracker, run_id, "val_loss") == [3, 6]
    assert len(tracker.client.get_metric_history(run_id, "train_minutes")) == 1


def test_a_model_trained_elsewhere_gets_a_finished_run_that_names_it(cfg, tmp_path):
    ensure_model(cfg, tmp_path / "models", progress=False)            # trained without a tracker
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "other", tmp_path / "art")
    folder, _, run_id = ensure_model(cfg, tmp_path / "models", tracker=tracker, progress=False)
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["model_dir"] == str(folder.resolve())


def test_a_training_done_here_is_reported_with_its_thread_count_and_a_reused_one_is_not(cfg, tmp_path):
    # price.observe_training keeps these rates: a bare re-export of a finished model is no rate
    import torch

    seen = []
    _, info, _ = ensure_model(cfg, tmp_path, progress=False, observe=lambda i, t: seen.append((i, t)))
    assert len(seen) == 1 and seen[0][0]["steps"] == 6 and seen[0][0]["minutes"] > 0
    assert seen[0][1] == torch.get_num_threads()
    ensure_model(cfg, tmp_path, progress=False, observe=lambda i, t: seen.append((i, t)))      # reused
    (tmp_path / training_hash(cfg) / "done.json").write_text("")
    ensure_model(cfg, tmp_path, progress=False, observe=lambda i, t: seen.append((i, t)))      # re-exported
    assert len(seen) == 1


def test_appended_rows_keep_their_text_so_a_numeric_axis_stays_the_study_s_label(tmp_path):
    # read back with inferred types, steps "4" beside a predictive row's empty one came back as 4.0
    import pandas as pd

    path = tmp_path / "cells.csv"
    columns = ["cell", "kind", "steps", "mean"]
    append_rows(path, pd.DataFrame([["0e12", "predictive", None, 2.0625]], columns=columns))
    append_rows(path, pd.DataFrame([["a1", "diffusion", "4", 1.5]], columns=columns))
    append_rows(path, pd.DataFrame([["b2", "diffusion", "16", 1.25], ["a1", "diffusion", "4", 1.75]],
                                   columns=columns))
    assert path.read_text().splitlines() == ["cell,kind,steps,mean", "0e12,predictive,,2.0625",
                                             "b2,diffusion,16,1.25", "a1,diffusion,4,1.75"]
