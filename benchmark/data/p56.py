"""Active speech level, ITU-T Recommendation P.56 (12/2011), method B.

VoiceBank-DEMAND sets its SNRs against this level, so the embedded dataset does the same: the
silence between words must not lower the speech level, or every mixture would be cleaner than
its nominal SNR says.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

# P.56 method B constants: envelope time constant T, hangover H, margin M between the
# active level and the threshold that defines activity.
TIME_CONSTANT_S = 0.03
HANGOVER_S = 0.2
MARGIN_DB = 15.9
# Thresholds one 16-bit quantisation step up to half full scale, a factor 2 apart (P.56, 16-bit
# case of the G.191 sv56 tool), for signals in [-1, 1].
THRESHOLDS = 2.0 ** np.arange(-15, 0)


@dataclass(frozen=True)
class ActiveLevel:
    power: float            # mean square over the active samples (linear)
    activity: float         # fraction of samples judged active, 0..1

    @property
    def db(self) -> float:
        """Active level in dB re full scale (dBov when samples are in [-1, 1])."""
        return 10.0 * np.log10(self.power) if self.power > 0 else -np.inf


def active_level(x: np.ndarray, sr: int) -> ActiveLevel:
    """P.56 method B active speech level of `x` (samples in [-1, 1]) at sample rate `sr`."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"active_level expects a 1-D signal, got shape {x.shape}")
    energy = float(np.dot(x, x))
    if x.size == 0 or energy == 0.0:
        return ActiveLevel(0.0, 0.0)

    # Envelope (P.56 method B): two cascaded first-order smoothers of |x|, g = exp(-1/(T*fs)).
    g = np.exp(-1.0 / (TIME_CONSTANT_S * sr))
    p = lfilter([1.0 - g], [1.0, -g], np.abs(x))
    q = lfilter([1.0 - g], [1.0, -g], p)

    # A sample is active for threshold c when q >= c at that sample or within the hangover of
    # I = ceil(H*fs) samples after one; i.e. when max(q[n-I..n]) >= c. A trailing window maximum
    # gives every threshold's activity count at once, instead of the standard's per-sample loop.
    hang = int(np.ceil(HANGOVER_S * sr))
    window_max = maximum_filter1d(q, size=hang + 1, origin=hang // 2, mode="constant", cval=0.0)
    ordered = np.sort(window_max)
    counts = x.size - np.searchsorted(ordered, THRESHOLDS, side="left")

    active = counts > 0
    if not active.any():                      # quieter than one 16-bit step: all-silent signal
        return ActiveLevel(0.0, 0.0)
    with np.errstate(divide="ignore"):
        level_db = np.where(active, 10.0 * np.log10(energy / np.maximum(counts, 1)), -np.inf)
    diff = level_db - 20.0 * np.log10(THRESHOLDS)   # A_j - C_j, falls as the threshold rises

    # The active level is where A_j - C_j crosses the margin M, interpolated in dB between the two
    # thresholds around the crossing (the standard's bisection converges to the same point).
    below = np.nonzero(active & (diff <= MARGIN_DB))[0]
    if below.size == 0:                        # margin never reached: every threshold active
        j = int(np.nonzero(active)[0][-1])
        return ActiveLevel(energy / counts[j], counts[j] / x.size)
    j = int(below[0])
    if j == 0:
        return ActiveLevel(energy / counts[0], counts[0] / x.size)
    frac = (diff[j - 1] - MARGIN_DB) / (diff[j - 1] - diff[j])
    db = level_db[j - 1] + frac * (level_db[j] - level_db[j - 1])
    power = 10.0 ** (db / 10.0)
    return ActiveLevel(power, min(1.0, energy / power / x.size))
