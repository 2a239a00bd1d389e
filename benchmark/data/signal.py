"""The sample rate and the signal helpers that every data module shares (mixtures, recordings)."""
from __future__ import annotations

import numpy as np

SR = 16_000
SILENCE_S = (0.1, 0.3)     # silence before and after the speech, like read-speech corpora


def trim_silence(x: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    """x without its leading and trailing samples at or below `floor`."""
    idx = np.nonzero(np.abs(x) > floor)[0]
    return x[idx[0]:idx[-1] + 1] if idx.size else x[:0]
