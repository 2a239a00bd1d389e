import numpy as np
import pytest
from scipy.signal import welch

from benchmark.data import noise

SR = 16000
N = 3 * SR


def _band_power(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return spec[(f >= lo) & (f < hi)].mean()


@pytest.mark.parametrize("kind", noise.PROCEDURAL)
def test_unit_rms_seeded_and_finite(kind):
    a = noise.procedural(kind, N, np.random.default_rng(1), SR)
    b = noise.procedural(kind, N, np.random.default_rng(1), SR)
    c = noise.procedural(kind, N, np.random.default_rng(2), SR)
    assert a.shape == (N,) and np.all(np.isfinite(a))
    assert np.sqrt(np.mean(a ** 2)) == pytest.approx(1.0, rel=1e-6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_colours_have_their_spectral_slopes():
    rng = np.random.default_rng(0)
    # power per bin from 100-200 Hz to 3.2-6.4 kHz (5 octaves): 0, 15 and 30 dB lower
    for kind, drop_db in (("white", 0), ("pink", 15), ("brown", 30)):
        x = noise.procedural(kind, N, rng, SR)
        ratio = 10 * np.log10(_band_power(x, 100, 200) / _band_power(x, 3200, 6400))
        assert ratio == pytest.approx(drop_db, abs=2.5), kind


def test_hum_sits_on_mains_harmonics():
    x = noise.procedural("hum", N, np.random.default_rng(3), SR)
    spec = np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(N, 1 / SR)
    peak = f[np.argmax(spec)]
    base = 50 if min(peak % 50, 50 - peak % 50) < min(peak % 60, 60 - peak % 60) else 60
    assert abs(peak / round(peak / base) - base) <= base * 0.011


def test_impulsive_noise_is_peaky_and_bandlimited_is_narrow():
    imp = noise.procedural("impulsive", N, np.random.default_rng(4), SR)
    assert np.max(np.abs(imp)) > 6   # crest factor of Gaussian noise is ~4 for 48k samples
    # spectral flatness (geometric / arithmetic mean of the PSD): ~1 for white noise, far lower
    # when the power sits in a band of at most two octaves
    def flatness(x):
        psd = welch(x, SR, nperseg=512)[1][1:]
        return np.exp(np.mean(np.log(psd))) / np.mean(psd)
    assert flatness(noise.procedural("white", N, np.random.default_rng(5), SR)) > 0.5
    for seed in range(5):
        assert flatness(noise.procedural("bandlimited", N, np.random.default_rng(seed), SR)) < 0.1


def test_babble_mix_and_unknown_type():
    rng = np.random.default_rng(6)
    talkers = [rng.standard_normal(N + 100) * (k + 1) for k in range(5)]
    mix = noise.babble_mix(talkers, N, rng)
    assert mix.shape == (N,) and np.sqrt(np.mean(mix ** 2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown noise type 'rain'"):
        noise.procedural("rain", N, rng, SR)
