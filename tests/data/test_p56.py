import numpy as np
import pytest

from benchmark.data.p56 import active_level

SR = 16000


def _p56_flowchart(x, sr):
    """P.56 method B written as the standard's per-sample flowchart (slow, for comparison)."""
    g = np.exp(-1 / (0.03 * sr))
    hang_max = int(np.ceil(0.2 * sr))
    thresholds = 2.0 ** np.arange(-15, 0)
    counts = np.zeros(thresholds.size)
    hang = np.full(thresholds.size, hang_max)
    p = q = 0.0
    for v in x:
        p = g * p + (1 - g) * abs(v)
        q = g * q + (1 - g) * p
        above = q >= thresholds
        counts += above | (hang < hang_max)
        hang = np.where(above, 0, np.where(hang < hang_max, hang + 1, hang))
    energy = np.sum(x ** 2)
    a = 10 * np.log10(energy / np.maximum(counts, 1))
    c = 20 * np.log10(thresholds)
    j = int(np.nonzero((counts > 0) & (a - c <= 15.9))[0][0])
    d0, d1 = a[j - 1] - c[j - 1] - 15.9, a[j] - c[j] - 15.9
    return a[j - 1] + d0 / (d0 - d1) * (a[j] - a[j - 1])


def _bursts(seed, seconds=3.0, duty=0.5):
    """Speech-like test signal: noise bursts of varying loudness separated by silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.zeros(n)
    pos = 0
    while pos < n:
        on = int(rng.uniform(0.1, 0.4) * SR)
        x[pos:pos + on] = rng.uniform(0.05, 0.3) * rng.standard_normal(min(on, n - pos))
        pos += on + int(on * (1 - duty) / duty)
    return x


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_standards_flowchart(seed):
    x = _bursts(seed, seconds=1.5)
    assert active_level(x, SR).db == pytest.approx(_p56_flowchart(x, SR), abs=0.05)


def test_continuous_sine_is_fully_active():
    t = np.arange(2 * SR) / SR
    level = active_level(0.5 * np.sin(2 * np.pi * 440 * t), SR)
    assert level.db == pytest.approx(10 * np.log10(0.125), abs=0.3)
    assert level.activity > 0.95


def test_pauses_do_not_lower_the_active_level():
    # 0.3 s bursts every 1.5 s: the active part is each burst plus P.56's 0.2 s hangover plus
    # the decay of the 2 x 30 ms envelope to the threshold (at most ~0.15 s)
    rng = np.random.default_rng(3)
    cycle, on = int(1.5 * SR), int(0.3 * SR)
    x = np.zeros(4 * cycle)
    for k in range(4):
        x[k * cycle:k * cycle + on] = 0.2 * rng.standard_normal(on)
    level = active_level(x, SR)
    def db_if_active(seconds_after):
        return 10 * np.log10(np.sum(x ** 2) / (4 * (on + seconds_after * SR)))
    assert db_if_active(0.35) <= level.db <= db_if_active(0.2)
    assert 0.5 / 1.5 <= level.activity <= 0.65 / 1.5
    assert level.db > 10 * np.log10(np.mean(x ** 2)) + 3.5   # well above the long-term RMS


def test_gain_moves_the_level_by_the_same_db():
    x = _bursts(4)
    assert active_level(0.1 * x, SR).db == pytest.approx(active_level(x, SR).db - 20, abs=0.2)


def test_silence_has_no_active_level():
    level = active_level(np.zeros(SR), SR)
    assert level.power == 0 and level.db == -np.inf
    with pytest.raises(ValueError, match="1-D"):
        active_level(np.zeros((2, 10)), SR)
