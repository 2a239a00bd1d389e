"""DNSMOS P.835 (benchmark/audio/dnsmos.py). CI installs the dnsmos extra (it is in `.[test]`), so
there a missing package fails these tests; elsewhere they skip with the install command. The test
of the error itself runs everywhere."""
import importlib
import math
import sys
import types

import numpy as np
import pytest

from benchmark.audio import dnsmos
from benchmark.audio.io import resample
from benchmark.audio.metrics import resolve_metrics, score_many, score_utterance
from benchmark.config import ConfigError, compose
from benchmark.data import tts
from benchmark.driver.grid import expand, load_study

from ..optional import need

SR = 16_000
TEXT = "The birch canoe slid on the smooth planks, and glue the sheet to the dark blue background."


def _need_dnsmos():
    need(dnsmos.require, dnsmos.DNSMOSUnavailable, "the dnsmos extra (it is in .[test])")


@pytest.fixture(scope="module")
def speech():
    """5 s of espeak-ng speech at 16 kHz, peak 0.5: one DNSMOS window (9.01 s of the clip played
    twice), so each score costs one pass of the network."""
    with tts.Session() as engine:
        x = resample(engine.synth(TEXT, "en-us+m3", 160, 50, 50), tts.NATIVE_RATE)
    x = np.concatenate([np.zeros(SR // 10, np.float32), x])[:5 * SR]
    x = np.pad(x, (0, 5 * SR - len(x)))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def white(like: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(len(like))
    return (n * np.sqrt(np.mean(like ** 2) / np.mean(n ** 2)) / 10 ** (snr_db / 20)).astype(np.float32)


def test_scores_lie_on_the_p835_scale_and_noise_lowers_bak(speech):
    _need_dnsmos()
    noisy = speech + white(speech, 0.0)
    clean_s, noisy_s = dnsmos.scores(speech), dnsmos.scores(noisy)
    for s in (clean_s, noisy_s):
        assert set(s) == set(dnsmos.NAMES)
        assert all(1.0 <= v <= 5.0 for v in s.values()), s
    assert clean_s["dnsmos_bak"] > noisy_s["dnsmos_bak"] + 1.0, (clean_s, noisy_s)
    assert clean_s["dnsmos_ovrl"] > noisy_s["dnsmos_ovrl"]


def test_not_16k_is_resampled_and_nothing_scorable_is_nan(speech):
    _need_dnsmos()
    at_8k = dnsmos.scores(resample(speech, SR, 8_000), 8_000)
    assert all(1.0 <= v <= 5.0 for v in at_8k.values())
    for bad in (np.zeros(0, np.float32), np.full(SR, np.nan, np.float32)):
        assert all(math.isnan(v) for v in dnsmos.scores(bad).values())


def test_the_same_scores_as_speechmos(speech, monkeypatch):
    """Against speechmos.dnsmos.run, the reference: a short clip (repeated to 9.01 s) and a 20 s
    one (windows every second, 7-23 s dropped). speechmos imports librosa only for its P.808 score,
    which is not compared, so a stand-in librosa feeds that model constant features."""
    _need_dnsmos()
    import speechmos
    fake = types.ModuleType("librosa")
    fake.feature = types.SimpleNamespace(melspectrogram=lambda y, **kw: np.ones((kw["n_mels"], 900)))
    fake.power_to_db = lambda m, ref: m
    monkeypatch.setitem(sys.modules, "librosa", fake)
    monkeypatch.setitem(sys.modules, "speechmos.dnsmos", None)   # restored (removed) afterwards
    del sys.modules["speechmos.dnsmos"]
    monkeypatch.setattr(speechmos, "dnsmos", None, raising=False)
    reference = importlib.import_module("speechmos.dnsmos")
    noisy = speech + white(speech, 5.0)
    for x in (noisy[:3 * SR], np.tile(noisy, 4)):
        ref = reference.run(x, SR)
        ours = dnsmos.scores(x)
        for name, key in zip(dnsmos.NAMES, ("sig_mos", "bak_mos", "ovrl_mos")):
            assert ours[name] == pytest.approx(float(ref[key]), abs=1e-5)


def test_eval_metrics_dnsmos_through_score_many(speech):
    _need_dnsmos()
    names = list(compose(["eval.metrics=[pesq_wb,dnsmos]"]).eval.metrics)
    assert resolve_metrics(names, True) == ("pesq_wb", *dnsmos.NAMES)
    assert resolve_metrics(["dnsmos", "dnsmos_bak"], True) == dnsmos.NAMES
    noise = white(speech, 0.0)
    items = [{"name": "a", "clean": speech, "noisy": speech + noise, "enhanced": speech + 0.1 * noise},
             {"name": "b", "clean": speech, "noisy": speech + noise,
              "enhanced": np.full_like(speech, np.nan)}]       # a diverged sampler
    table = score_many(items, metrics=names, jobs=1)
    assert list(table.columns) == ["name", "metric", "input", "output", "delta", "floored"]
    assert set(table["metric"]) == {"pesq_wb", *dnsmos.NAMES} and len(table) == 2 * 4
    rows = table.set_index(["name", "metric"])
    for m in dnsmos.NAMES:
        a = rows.loc[("a", m)]
        assert 1.0 <= a["input"] <= 5.0 and 1.0 <= a["output"] <= 5.0
        assert a["delta"] == pytest.approx(a["output"] - a["input"]) and not a["floored"]
        # non-intrusive: the input column is the noisy signal's own score
        assert a["input"] == pytest.approx(dnsmos.scores(speech + noise)[m])
        b = rows.loc[("b", m)]
        assert b["output"] == 1.0 and b["floored"] and b["input"] == pytest.approx(a["input"])
    assert rows.loc[("a", "dnsmos_bak"), "delta"] > 1.0
    # the workers of a pool make their own single-threaded sessions and agree with this process
    pooled = score_many(items, metrics=names, jobs=2)
    assert np.allclose(pooled[["input", "output"]], table[["input", "output"]], atol=1e-6)


def test_config_checks_metric_names():
    with pytest.raises(ConfigError, match=r"eval.metrics: unknown metric\(s\) \['dnsmoss'\]"):
        compose(["eval.metrics=[pesq_wb,dnsmoss]"])


@pytest.mark.parametrize("package", ["onnxruntime", "speechmos"])
def test_a_missing_package_is_a_clear_error(package, monkeypatch, speech):
    monkeypatch.setitem(sys.modules, package, None)        # `import package` now fails
    monkeypatch.setattr(dnsmos, "_SESSION", None)
    for call in (lambda: resolve_metrics(["pesq_wb", "dnsmos"], True),
                 lambda: score_utterance(speech, speech, metrics=["dnsmos_ovrl"]),
                 lambda: score_many([{"name": "a", "clean": speech, "noisy": speech, "enhanced": speech}],
                                    metrics=["dnsmos"], jobs=1),
                 dnsmos.session):
        with pytest.raises(dnsmos.DNSMOSUnavailable, match=r"pip install -e '\.\[dnsmos\]'"):
            call()
    assert issubclass(dnsmos.DNSMOSUnavailable, ImportError)
    # a study fails before any training; a saved config that names DNSMOS still loads
    with pytest.raises(ConfigError, match=r"cell .*pip install -e '\.\[dnsmos\]'"):
        expand(load_study("smoke"), ["eval.metrics=[pesq_wb,dnsmos]"])
    assert "dnsmos" in compose(["eval.metrics=[pesq_wb,dnsmos]"]).eval.metrics
    assert resolve_metrics(["pesq_wb"], True) == ("pesq_wb",)    # the other metrics do not need it
    assert "dnsmos_sig" not in resolve_metrics(None, True)       # nor is it ever a default
