"""Procedural noise for the embedded dataset: seeded numpy, no recordings.

Each generator returns float64 noise of unit RMS; the mixer sets the level from the SNR. The
types stand in for the noise families of real corpora: stationary broadband (white, pink,
brown), coloured machinery (band-limited), fluctuating sources such as fans and traffic
(amplitude-modulated), mains hum, and transients (impulsive). Babble needs the TTS engine and is
made in `mixture.py`; `babble_mix` here only sums the talkers.
"""
from __future__ import annotations

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import butter, sosfilt

PROCEDURAL = ("white", "pink", "brown", "bandlimited", "modulated", "hum", "impulsive")
KINDS = PROCEDURAL + ("babble",)


def unit_rms(x: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(x ** 2))
    return x / rms if rms > 0 else x


def coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    m = next_fast_len(n, real=True)   # an awkward length makes the FFT ten times slower
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0  # keeps the DC bin finite; it is removed just below
    spec *= f ** (-exponent / 2.0)
    spec[0] = 0.0
    return unit_rms(np.fft.irfft(spec, m)[:n])


def bandlimited(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """White noise through a random Butterworth band-pass (centre 100 Hz..6 kHz, 0.3..2 octaves)."""
    centre = np.exp(rng.uniform(np.log(100.0), np.log(6000.0)))
    half_width = 2.0 ** (rng.uniform(0.3, 2.0) / 2.0)
    low = max(centre / half_width, 20.0)
    high = min(centre * half_width, 0.45 * sr)
    sos = butter(int(rng.integers(2, 5)), [low, high], btype="bandpass", fs=sr, output="sos")
    # a second of run-in so the filter transient is not part of the noise
    run_in = sr
    return unit_rms(sosfilt(sos, rng.standard_normal(n + run_in))[run_in:])


def modulated(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Coloured noise under a slow envelope: a periodic part (fans, engines) and a random part
    (passing traffic)."""
    t = np.arange(n) / sr
    rate = np.exp(rng.uniform(np.log(0.25), np.log(8.0)))
    phase = rng.uniform(0, 2 * np.pi)
    periodic = 1.0 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * rate * t + phase)
    # random envelope: noise low-passed at ~0.5 Hz, mapped to 0.2..1.8 of the mean level
    sos = butter(2, 0.5, btype="lowpass", fs=sr, output="sos")
    slow = sosfilt(sos, rng.standard_normal(n + 4 * sr))[4 * sr:]
    slow = 1.0 + 0.8 * np.tanh(slow / (np.std(slow) + 1e-12))
    weight = rng.uniform(0.0, 1.0)
    envelope = (1 - weight) * periodic + weight * slow
    return unit_rms(coloured(n, rng.uniform(0.0, 2.0), rng) * envelope)


def hum(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz (+-1 %) with 3..12 harmonics, random phases and spectral tilt,
    over a faint broadband floor."""
    f0 = (50.0 if rng.random() < 0.5 else 60.0) * rng.uniform(0.99, 1.01)
    tilt = rng.uniform(0.5, 2.0)
    fundamental = np.exp(2j * np.pi * f0 * np.arange(n) / sr)
    harmonic = np.ones(n, dtype=complex)
    x = np.zeros(n)
    for k in range(1, int(rng.integers(3, 13)) + 1):
        if k * f0 >= 0.45 * sr:
            break
        harmonic *= fundamental   # exp(j k w t) by recurrence: one product instead of a sine
        amp = k ** (-tilt) * rng.uniform(0.3, 1.0)
        x += amp * (harmonic * np.exp(1j * rng.uniform(0, 2 * np.pi))).imag
    return unit_rms(unit_rms(x) + 10 ** (-30 / 20) * rng.standard_normal(n))


def impulsive(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Clicks (1..5 ms) and knocks (20..200 ms) at Poisson times (0.5..5 per second), each a
    decaying noise burst, over a background 30 dB down."""
    x = 10 ** (-30 / 20) * rng.standard_normal(n)
    rate = rng.uniform(0.5, 5.0)
    n_events = max(1, int(rng.poisson(rate * n / sr)))
    for start in rng.integers(0, n, size=n_events):
        seconds = rng.uniform(0.001, 0.005) if rng.random() < 0.5 else rng.uniform(0.02, 0.2)
        m = min(max(int(seconds * sr), 2), n - int(start))
        decay = np.exp(-np.arange(m) / (m / 5.0))
        x[start:start + m] += rng.uniform(0.2, 1.0) * 20 * decay * rng.standard_normal(m)
    return unit_rms(x)


def procedural(kind: str, n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Unit-RMS noise of a procedural `kind` (one of PROCEDURAL), `n` samples at `sr`."""
    if kind == "white":
        return coloured(n, 0.0, rng)
    if kind == "pink":
        return coloured(n, 1.0, rng)
    if kind == "brown":
        return coloured(n, 2.0, rng)
    if kind == "bandlimited":
        return bandlimited(n, rng, sr)
    if kind == "modulated":
        return modulated(n, rng, sr)
    if kind == "hum":
        return hum(n, rng, sr)
    if kind == "impulsive":
        return impulsive(n, rng, sr)
    raise ValueError(f"unknown noise type {kind!r}; known: {', '.join(KINDS)}")


def babble_mix(talkers: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """Sum talkers (each at least `n` samples) at random offsets and levels within +-3 dB."""
    out = np.zeros(n)
    for x in talkers:
        start = int(rng.integers(0, x.size - n + 1))
        out += 10 ** (rng.uniform(-3, 3) / 20) * unit_rms(x[start:start + n])
    return unit_rms(out)
