"""Reading and writing audio with checks that name the file and the problem.

Every loader in the project (corpora, metrics, enhancement) goes through `read_audio`, so bad input
fails the same way everywhere: an `AudioError` whose message starts with the path.
"""
from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000
# Named so that results say how audio was resampled (PESQ moves with the resampler: MP-SENet #17).
RESAMPLER = "scipy.signal.resample_poly (Kaiser window, beta 5)"


class AudioError(ValueError):
    """Bad audio input; the message names the file and the problem."""


def resample(x: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = np.gcd(int(sr_in), int(sr_out))
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def wav_declared_bytes(path: Path) -> tuple[int, int] | None:
    """(bytes the WAV header declares for its data chunk, bytes present), or None if not a WAV."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_len = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                return chunk_len, size - pos - 8
            pos += 8 + chunk_len + (chunk_len & 1)
    return None


def check_not_truncated(path: str | Path) -> None:
    """Refuse a WAV whose data chunk is shorter than its header says.

    libsndfile quietly reads what is left of a truncated WAV, so a cut-off file would otherwise
    show up later as a wrong length (or not at all).
    """
    path = Path(path)
    try:
        declared = wav_declared_bytes(path)
    except OSError as e:
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    # 0 and 0xFFFFFFFF mean "length unknown" for streamed WAVs: nothing to compare against
    if declared and declared[0] not in (0, 0xFFFFFFFF) and declared[1] < declared[0]:
        raise AudioError(f"{path}: truncated file (the header declares {declared[0]} bytes of "
                         f"audio, {declared[1]} are present)")


def read_audio(path: str | Path, sr: int = SAMPLE_RATE, *, allow_silent: bool = True) -> np.ndarray:
    """Mono float32 samples at `sr`. Stereo is averaged and other rates resampled, with a warning.
    A truncated WAV is refused."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    check_not_truncated(path)
    try:
        x, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for unreadable or truncated files
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    if x.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples")
    if x.shape[1] > 1:
        warnings.warn(f"{path}: {x.shape[1]} channels, averaged to mono", stacklevel=2)
    x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: contains NaN or Inf samples")
    if file_sr != sr:
        warnings.warn(f"{path}: sample rate {file_sr} Hz, resampled to {sr} Hz with {RESAMPLER}",
                      stacklevel=2)
        x = resample(x, file_sr, sr)
    if not allow_silent and not np.any(np.abs(x) > 1e-6):
        raise AudioError(f"{path}: the signal is silent (all samples below 1e-6)")
    return np.ascontiguousarray(x, dtype=np.float32)


def write_audio(path: str | Path, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """16-bit PCM wav; the parent folder is created. Clipping is reported, never silent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x, dtype=np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        warnings.warn(f"{path}: peak {peak:.2f} > 1, clipped when written as 16-bit PCM", stacklevel=2)
    sf.write(str(path), np.clip(x, -1.0, 1.0), sr, subtype="PCM_16")
