"""A dataset of (clean, noisy) pairs of files, checked so that bad input fails early and clearly.

Cheap checks run at construction on file headers only (soundfile.info): unreadable or truncated
files, empty files, pairs of different lengths. Content checks (NaN/Inf, silent clean speech) run
when an item is read. Every error is an AudioError whose message starts with the file's path.
Stereo files and files at another sample rate are warned about once, at construction, naming
the file; reading then averages and resamples them quietly.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample as fft_resample

from ..audio.io import RESAMPLER, SAMPLE_RATE, AudioError, check_not_truncated, read_audio

RESAMPLERS = {
    "poly": RESAMPLER,
    # what brever's VoiceBank-DEMAND conversion uses (scripts/vbdemand_to_brever.py)
    "fft": "scipy.signal.resample (FFT), output length ceil(n * 16000 / rate)",
}
_MAX_FILE_WARNINGS = 5


@dataclass(frozen=True)
class Pair:
    name: str
    clean: Path
    noisy: Path


@dataclass(frozen=True)
class _Header:
    frames: int
    rate: int
    channels: int


def _header(path: Path) -> _Header:
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises several types for unreadable files
        raise AudioError(f"{path}: cannot read audio ({e})") from None
    check_not_truncated(path)
    if info.frames <= 0:
        raise AudioError(f"{path}: the file holds no samples")
    return _Header(int(info.frames), int(info.samplerate), int(info.channels))


class PairedDataset(torch.utils.data.Dataset):
    """Items are dict(name=str, clean=float32[L], noisy=float32[L]) at 16 kHz, mono.

    `lengths` (samples per item at 16 kHz) and `names` come from the headers, without reading
    audio. `metadata` holds per-item rows when the corpus provides them (the synthetic set).
    `quiet_rates`: native rates that are expected and resampled without a per-file warning
    (48 kHz for VoiceBank-DEMAND).
    """

    def __init__(self, pairs: list[Pair], *, resampler: str = "poly",
                 quiet_rates: tuple[int, ...] = (), metadata: list[dict] | None = None,
                 description: str = ""):
        if resampler not in RESAMPLERS:
            raise ValueError(f"unknown resampler {resampler!r}; known: {', '.join(RESAMPLERS)}")
        if not pairs:
            raise AudioError(f"{description or 'dataset'}: no audio pairs found")
        self.pairs = list(pairs)
        self.resampler = resampler
        self.description = description
        self.metadata = metadata
        self._rates: list[int] = []
        self.lengths: list[int] = []
        notes: list[str] = []
        for pair in self.pairs:
            clean, noisy = _header(pair.clean), _header(pair.noisy)
            if clean.rate != noisy.rate:
                raise AudioError(f"{pair.noisy}: {noisy.rate} Hz but its clean partner "
                                 f"{pair.clean} is at {clean.rate} Hz")
            if clean.frames != noisy.frames:
                raise AudioError(f"{pair.noisy}: {noisy.frames} samples but its clean partner "
                                 f"{pair.clean} has {clean.frames}: a pair must have the same "
                                 "length")
            for path, h in ((pair.clean, clean), (pair.noisy, noisy)):
                if h.channels > 1:
                    notes.append(f"{path}: {h.channels} channels, averaged to mono")
                if h.rate != SAMPLE_RATE and h.rate not in quiet_rates:
                    notes.append(f"{path}: sample rate {h.rate} Hz, resampled to {SAMPLE_RATE} Hz "
                                 f"with {RESAMPLERS[resampler]}")
            self._rates.append(clean.rate)
            self.lengths.append(math.ceil(clean.frames * SAMPLE_RATE / clean.rate))
        for note in notes[:_MAX_FILE_WARNINGS]:
            warnings.warn(note, stacklevel=2)
        if len(notes) > _MAX_FILE_WARNINGS:
            warnings.warn(f"{len(notes) - _MAX_FILE_WARNINGS} more files were averaged to mono or "
                          f"resampled ({description})", stacklevel=2)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def _read(self, path: Path, rate: int, length: int, allow_silent: bool) -> np.ndarray:
        with warnings.catch_warnings():   # already reported once, at construction
            warnings.simplefilter("ignore")
            if self.resampler == "poly":
                x = read_audio(path, SAMPLE_RATE, allow_silent=allow_silent)
            else:
                x = read_audio(path, rate, allow_silent=allow_silent)
                if rate != SAMPLE_RATE:
                    x = fft_resample(x, length).astype(np.float32)
        if x.size != length:   # the file changed since the dataset was made
            raise AudioError(f"{path}: {x.size} samples where the header said {length}")
        return x

    def __getitem__(self, i: int) -> dict:
        pair, rate, length = self.pairs[i], self._rates[i], self.lengths[i]
        clean = self._read(pair.clean, rate, length, allow_silent=False)
        noisy = self._read(pair.noisy, rate, length, allow_silent=True)
        return {"name": pair.name, "clean": clean, "noisy": noisy}
