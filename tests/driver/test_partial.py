"""A cell's evaluation stopped part way goes on from the next utterance and gives the numbers of a
run that was never stopped; work kept for other weights or another configuration is not used."""
import numpy as np
import pandas as pd
import pytest

from benchmark.config import compose
from benchmark.driver import cell
from benchmark.driver import partial as cell_progress

SPLITS = ["test", "test_mismatched"]                 # 3 and 2 utterances in the tiny data


class Stop(Exception):
    pass


def _counting(monkeypatch, stop_at=None):
    """Count the sampler's utterances and the splits scored; raise Stop at utterance `stop_at`."""
    calls = {"enhance": 0, "score": 0}
    enhance, score = cell.enhance_waveform, cell.score_many

    def enhancing(*a, **k):
        calls["enhance"] += 1
        if calls["enhance"] == stop_at:
            raise Stop
        return enhance(*a, **k)

    def scoring(*a, **k):
        calls["score"] += 1
        return score(*a, **k)
    monkeypatch.setattr(cell, "enhance_waveform", enhancing)
    monkeypatch.setattr(cell, "score_many", scoring)
    return calls


@pytest.fixture
def setting(tiny_model, monkeypatch):
    folder, cfg = tiny_model
    monkeypatch.setattr(cell_progress, "SAVE_EVERY_S", 0.0)          # keep every utterance
    return folder, compose(["sampler.steps=2"], base=cfg)


def test_a_stopped_evaluation_goes_on_where_it_stopped_with_the_same_numbers(setting, tmp_path, monkeypatch):
    folder, cfg = setting
    whole, whole_extra = cell.evaluate_cell(cfg, folder, SPLITS, progress=False)
    keep = tmp_path / "partial"
    assert not cell_progress.CellProgress.begun(keep)
    calls = _counting(monkeypatch, stop_at=2)                        # in the first split
    with pytest.raises(Stop):
        cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    assert cell_progress.CellProgress.begun(keep)                    # the queue takes it first (study.next_cell)
    calls = _counting(monkeypatch, stop_at=4)                        # in the second, the first scored
    with pytest.raises(Stop):
        cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    assert calls == {"enhance": 4, "score": 1}                       # went on from utterance 2 of 3
    calls = _counting(monkeypatch)
    table, extra = cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    assert calls == {"enhance": 1, "score": 1}                       # the last utterance; the first split's scores kept
    pd.testing.assert_frame_equal(table, whole)
    for split in SPLITS:
        assert extra["timing"][split]["nfe"] == whole_extra["timing"][split]["nfe"]
        for a, b in zip(extra["examples"][split], whole_extra["examples"][split]):
            assert a["name"] == b["name"] and np.array_equal(a["enhanced"], b["enhanced"])
    # the generator's restored state is what makes the rest the same: reseeded, it differs
    keep = tmp_path / "reseeded"
    _counting(monkeypatch, stop_at=2)
    with pytest.raises(Stop):
        cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    load = cell_progress.CellProgress.load
    monkeypatch.setattr(cell_progress.CellProgress, "load",
                        lambda self, split: cell_progress.Kept(**{**vars(load(self, split)), "state": None}))
    _counting(monkeypatch)
    reseeded, _ = cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    assert not reseeded["output"].equals(whole["output"])


def test_work_kept_for_another_configuration_is_discarded(setting, tmp_path, monkeypatch, capsys):
    folder, cfg = setting
    keep = tmp_path / "partial"
    _counting(monkeypatch, stop_at=3)
    with pytest.raises(Stop):
        cell.evaluate_cell(cfg, folder, SPLITS, progress=False, keep=keep)
    assert len(list(keep.glob("test.*.npz"))) == 2
    other = compose(["sampler.steps=3"], base=cfg)
    whole, _ = cell.evaluate_cell(other, folder, SPLITS, progress=False)
    calls = _counting(monkeypatch)
    table, _ = cell.evaluate_cell(other, folder, SPLITS, progress=False, keep=keep)
    assert calls == {"enhance": 5, "score": 2} and "another configuration or other weights" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table, whole)


def test_the_fingerprint_follows_the_weights(setting):
    import torch

    from benchmark.store import load_trained

    folder, cfg = setting
    model = load_trained(cfg, folder, cfg.eval.checkpoint).model
    mark = cell_progress.fingerprint(cfg, model)
    assert cell_progress.fingerprint(cfg, load_trained(cfg, folder, cfg.eval.checkpoint).model) == mark
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-6
    assert cell_progress.fingerprint(cfg, model) != mark
