"""flite voices as an optional training source: deterministic, prosody that follows the draws,
train split only, the default dataset untouched, and a clear message where flite is missing."""
from pathlib import Path

import numpy as np
import pytest

from benchmark.data import flite, mixture, settings, synthetic

from ..optional import need


def _need_flite():
    need(flite.version, flite.FliteMissing, "Debian's flite (scripts/real-sources.sh)")


def _median_f0(x: np.ndarray, sr: int = 16000) -> float:
    f0 = []
    for i in range(0, len(x) - 1024, 512):
        seg = x[i:i + 1024]
        if np.std(seg) < 0.02:
            continue
        ac = np.correlate(seg, seg, "full")[1023:]
        lo, hi = sr // 400, sr // 60
        f0.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0))


@pytest.fixture
def cfg():
    return settings.resolve({"name": "synthetic", "flite_speech": True, "flite_prob": 1.0})


def test_flite_speech_is_deterministic_fits_the_duration_and_follows_the_pitch(cfg):
    _need_flite()
    a = mixture.flite_speech(np.random.default_rng(3), cfg, ["slt"])
    b = mixture.flite_speech(np.random.default_rng(3), cfg, ["slt"])
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    lo, hi = cfg["seconds"]
    assert lo <= a[0].size / mixture.SR <= hi and a[1]["voice"] == "flite:slt"
    low = flite.synth("the quick brown fox jumps over the lazy dog", "awb", flite.prosody("awb", 160, 0, 50))
    high = flite.synth("the quick brown fox jumps over the lazy dog", "awb", flite.prosody("awb", 160, 100, 50))
    assert _median_f0(high) > 1.4 * _median_f0(low)                    # 85 Hz vs 150 Hz targets


def test_only_the_train_split_speaks_flite_and_the_default_hash_is_unchanged(cfg, tmp_path):
    _need_flite()
    default = settings.resolve({"name": "synthetic"})
    assert synthetic.dataset_dir(default) == synthetic.dataset_dir({**default, "flite_prob": 0.9})
    assert synthetic.dataset_dir(cfg) != synthetic.dataset_dir(default)
    small = {**cfg, "cache_dir": str(tmp_path), "workers": 1,
             "sizes": {"train": 3, "valid": 1, "test": 1, "test_mismatched": 1}}
    rows = {}
    for split in ("train", "test"):
        rows[split] = synthetic._make_chunk(small, split, 0, small["sizes"][split], str(_dirs(tmp_path, split)))
    assert all(r["voice"].startswith("flite:") for r in rows["train"])
    assert not any(r["voice"].startswith("flite:") for r in rows["test"])


def _dirs(root: Path, split: str) -> Path:
    for kind in ("clean", "noisy"):
        (root / split / kind).mkdir(parents=True, exist_ok=True)
    return root


def test_missing_flite_or_an_unknown_voice_says_what_to_do(cfg, monkeypatch):
    monkeypatch.setattr(flite, "binary", lambda: None)
    flite.version.cache_clear()
    try:
        with pytest.raises(flite.FliteMissing, match="apt-get install flite"):
            synthetic.dataset_dir(cfg)
        auto = synthetic.effective({**cfg, "flite_speech": "auto"})
        assert auto["flite_speech"] is False
    finally:
        flite.version.cache_clear()
    with pytest.raises(ValueError, match="not among flite's 16 kHz voices"):
        synthetic.check_settings({**cfg, "flite_voices": ["kal"]})
