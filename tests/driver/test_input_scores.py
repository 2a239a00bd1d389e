"""The noisy input is scored once per dataset and split: later cells read the same numbers back."""
import pandas as pd

from benchmark.audio import metrics
from benchmark.config import compose
from benchmark.driver import input_scores as input_cache
from benchmark.driver.cell import evaluate_cell


def test_the_second_cell_reuses_the_input_scores_exactly(tiny_model, tmp_path, monkeypatch):
    folder, cfg = tiny_model
    cfg = compose(["sampler.steps=1"], base=cfg)
    calls = {"input": 0}
    real = metrics.score_utterance

    def counting(clean, estimate, noisy=None, *a, **k):
        if estimate is noisy:
            calls["input"] += 1
        return real(clean, estimate, noisy, *a, **k)

    monkeypatch.setattr(metrics, "score_utterance", counting)
    plain, _ = evaluate_cell(cfg, folder, ["test"], progress=False)
    scored_each_time = calls["input"]
    assert scored_each_time == plain["name"].nunique() > 0
    first, _ = evaluate_cell(cfg, folder, ["test"], progress=False, input_cache=tmp_path)
    second, _ = evaluate_cell(cfg, folder, ["test"], progress=False, input_cache=tmp_path)
    assert calls["input"] == 2 * scored_each_time               # the second cached run scored no input
    for table in (first, second):
        pd.testing.assert_series_equal(table["input"], plain["input"])
    assert len(list(tmp_path.glob("*.csv"))) == 1


def test_the_cache_is_keyed_by_the_audio_settings_and_split(tiny):
    cfg = compose(tiny)
    path = input_cache.cache_path("c", cfg.data, "test")
    assert path == input_cache.cache_path("c", compose(tiny + ["data.cache_dir=/elsewhere"]).data, "test")
    assert path != input_cache.cache_path("c", cfg.data, "test_mismatched")
    assert path != input_cache.cache_path("c", compose(tiny + ["data.snr_db=[0.0,5.0]"]).data, "test")
