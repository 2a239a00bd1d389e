"""RNNoise on a folder of noisy 16 kHz WAVs, for the real-split comparison (docs/data.md).

Runs in a throw-away environment, never in the project's (RNNoise is not a dependency):

    python3.11 -m venv /tmp/rnnenv && /tmp/rnnenv/bin/pip install pyrnnoise soundfile scipy
    /tmp/rnnenv/bin/python perf/rnnoise_baseline.py NOISY_DIR OUT_DIR
    python -m benchmark.evaluate clean=CLEAN_DIR enhanced=OUT_DIR noisy=NOISY_DIR

RNNoise works on 10 ms frames at 48 kHz: each file is resampled 16 -> 48 kHz, denoised frame by
frame with a fresh state, shifted back by the delay that maximises its correlation with the input
(RNNoise's overlap-add delays its output by a frame), and resampled to 16 kHz.
"""
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, process_mono_frame
from scipy.signal import resample_poly


def denoise(x16: np.ndarray) -> np.ndarray:
    x = resample_poly(x16.astype(np.float64), 3, 1)
    n = int(np.ceil(x.size / FRAME_SIZE)) * FRAME_SIZE + 2 * FRAME_SIZE
    pad = np.zeros(n)
    pad[:x.size] = x
    state = create()
    try:
        out = np.concatenate([process_mono_frame(state, np.clip(pad[i:i + FRAME_SIZE], -1, 1).astype(np.float32))[0]
                              for i in range(0, n, FRAME_SIZE)]).astype(np.float64).ravel()
    finally:
        destroy(state)
    out = out / 32768.0 if np.abs(out).max() > 2 else out
    lags = range(0, 2 * FRAME_SIZE + 1)
    lag = max(lags, key=lambda k: float(np.dot(out[k:k + x.size], x)))
    return resample_poly(out[lag:lag + x.size], 1, 3)[:x16.size]


def main():
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.wav")):
        x, sr = sf.read(str(path), dtype="float64")
        if sr != 16_000:
            raise SystemExit(f"{path}: {sr} Hz, expected 16 kHz")
        y = denoise(x)
        sf.write(str(dst / path.name), np.pad(y, (0, x.size - y.size)), sr, subtype="PCM_16")
    print(f"{dst}: {len(list(dst.glob('*.wav')))} files")


if __name__ == "__main__":
    main()
