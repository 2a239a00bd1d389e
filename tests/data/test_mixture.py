import numpy as np
import pytest

from benchmark.data import mixture, settings, synthetic
from benchmark.data.p56 import active_level


@pytest.fixture(scope="module")
def cfg():
    return settings.resolve({"name": "synthetic"})


def _make(cfg, seed, kinds=None, split="train"):
    return mixture.make(seed, cfg, synthetic._accents(cfg, split), cfg["variants"][split],
                        kinds or synthetic._kinds(cfg, split))


@pytest.mark.parametrize("kinds", [["pink"], ["babble"], ["hum", "impulsive"]])
def test_snr_is_set_against_the_active_speech_level(cfg, kinds):
    for seed in range(3):
        clean, noisy, meta = _make(cfg, seed, kinds)
        noise = noisy.astype(np.float64) - clean
        snr = active_level(clean, mixture.SR).db - 10 * np.log10(np.mean(noise ** 2))
        assert snr == pytest.approx(meta["snr_db"], abs=0.05)
        assert -5 <= meta["snr_db"] <= 20
        assert set(meta["noise"].split("+")) <= set(kinds)


def test_duration_level_and_peak_follow_the_settings(cfg):
    for seed in range(8):
        clean, noisy, meta = _make(cfg, seed)
        assert clean.shape == noisy.shape and clean.dtype == np.float32
        assert 2.0 <= clean.size / mixture.SR <= 5.0
        assert np.abs(noisy).max() <= mixture.PEAK_LIMIT + 1e-6
        level = active_level(clean, mixture.SR).db
        assert level == pytest.approx(meta["speech_level_db"], abs=0.05)
        assert level <= -15 + 0.05
        assert meta["variant"] in cfg["variants"]["train"] and meta["accent"] in cfg["accents"]


def test_an_utterance_depends_only_on_its_seed(cfg):
    a = _make(cfg, 11)
    _make(cfg, 12)   # another utterance in between must not change it
    b = _make(cfg, 11)
    c = _make(cfg, 13)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[1][:1000], c[1][:1000])
