"""One utterance of the embedded dataset: TTS speech, procedural noise, mixed at a P.56 SNR.

Everything random about an utterance comes from its own seed, drawn in a fixed order, and its
speech comes from its own pristine espeak-ng session (tts.py), so an utterance depends on its
seed and the settings only: never on the other utterances, their order or the worker count.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from scipy.signal import butter, firwin, resample_poly, sosfiltfilt

from . import flite, noise, tts
from .p56 import active_level
from .signal import SILENCE_S, SR, trim_silence  # noqa: F401  (SR: mixture.SR is the data's rate)
from .sources import noise_crop
from .sources import speech as real_speech
from .text import sentence

PEAK_LIMIT = 0.99          # mixtures are scaled down if they would exceed this (16-bit files)


@lru_cache(maxsize=1)
def _resampling_filter() -> np.ndarray:
    # resample_poly's own default design (Kaiser, beta 5, 10 zero crossings), made once: designing
    # it on every call cost more than the filtering
    return firwin(2 * 10 * 441 + 1, 1.0 / 441, window=("kaiser", 5.0))


def _to_16k(x: np.ndarray) -> np.ndarray:
    # 22,050 -> 16,000 Hz is exactly 320/441
    return resample_poly(np.asarray(x, dtype=np.float64), 320, 441, window=_resampling_filter())


def _uniform_int(rng: np.random.Generator, bounds: Sequence[int]) -> int:
    return int(rng.integers(int(bounds[0]), int(bounds[1]) + 1))


def _fitted(rng: np.random.Generator, cfg: Mapping, say, words_per_second: float) -> tuple[np.ndarray, str]:
    """Speech from `say(text)` (16 kHz) lasting cfg['seconds'] with its leading and trailing
    silence: sentences are drawn until one fits, aiming with the rate the voice really speaks at."""
    lo, hi = (float(v) for v in cfg["seconds"])
    lead, tail = rng.uniform(*SILENCE_S), rng.uniform(*SILENCE_S)
    voiced_target = max(rng.uniform(lo, hi) - lead - tail, 0.5)
    words = max(2, round(voiced_target * words_per_second))
    for _ in range(8):
        text = sentence(rng, words)
        x = trim_silence(say(text))
        seconds = x.size / SR + lead + tail
        if lo <= seconds <= hi and x.size:
            break
        # aim again with the speaking rate this voice actually produced
        words = max(2, round(words * voiced_target / max(x.size / SR, 0.1)))
    # a rare miss after 8 tries: crop with a short fade, or pad with silence
    room = int((hi - lead - tail) * SR)
    if x.size > room:
        x = x[:room].copy()
        fade = min(int(0.02 * SR), room)
        x[room - fade:] *= np.linspace(1.0, 0.0, fade)
    x = np.concatenate([np.zeros(int(lead * SR)), x, np.zeros(int(tail * SR))])
    if x.size < int(lo * SR):
        x = np.concatenate([x, np.zeros(int(lo * SR) - x.size)])
    return x, text


def _prosody(rng: np.random.Generator, cfg: Mapping) -> tuple[int, int, int]:
    return (_uniform_int(rng, cfg["rate"]), _uniform_int(rng, cfg["pitch"]),
            _uniform_int(rng, cfg["pitch_range"]))


def speech(rng: np.random.Generator, engine: tts.Session, cfg: Mapping, accents: Sequence[str],
           variants: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Clean espeak-ng speech at 16 kHz lasting cfg['seconds'] (min, max), with its description."""
    accent = accents[int(rng.integers(len(accents)))]
    variant = variants[int(rng.integers(len(variants)))]
    rate, pitch, pitch_range = _prosody(rng, cfg)
    voice = f"{accent}+{variant}"
    # espeak's rate is in words per minute; on these sentences it says ~1.2 words per nominal one
    x, text = _fitted(rng, cfg, lambda t: _to_16k(engine.synth(t, voice, rate, pitch, pitch_range)),
                      1.2 * rate / 60.0)
    meta = dict(voice=voice, accent=accent, variant=variant, rate=rate, pitch=pitch,
                pitch_range=pitch_range, text=text)
    return x, meta


def flite_speech(rng: np.random.Generator, cfg: Mapping, voices: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Clean flite speech (flite.py) with the same duration, prosody draws and description."""
    voice = voices[int(rng.integers(len(voices)))]
    rate, pitch, pitch_range = _prosody(rng, cfg)
    features = flite.prosody(voice, rate, pitch, pitch_range)
    x, text = _fitted(rng, cfg, lambda t: flite.synth(t, voice, features), rate / 60.0)
    meta = dict(voice=f"flite:{voice}", accent="", variant=voice, rate=rate, pitch=pitch,
                pitch_range=pitch_range, text=text)
    return x, meta


def babble(rng: np.random.Generator, engine: tts.Session, cfg: Mapping, n: int) -> np.ndarray:
    """Unit-RMS babble of 'babble_talkers' (min, max) voices that never speak clean speech."""
    langs, variants = cfg["babble_languages"], cfg["babble_variants"]
    native_n = int(np.ceil(n * tts.NATIVE_RATE / SR)) + 1
    talkers = []
    for _ in range(_uniform_int(rng, cfg["babble_talkers"])):
        lang = langs[int(rng.integers(len(langs)))]
        voice = f"{lang}+{variants[int(rng.integers(len(variants)))]}"
        rate, pitch = _uniform_int(rng, cfg["rate"]), _uniform_int(rng, cfg["pitch"])
        pitch_range = _uniform_int(rng, cfg["pitch_range"])
        pieces, total = [], 0
        while total < native_n:
            words = max(4, round((native_n - total) / tts.NATIVE_RATE * rate / 60.0) + 2)
            piece = trim_silence(engine.synth(sentence(rng, words), voice, rate, pitch,
                                       pitch_range).astype(np.float64))
            pieces.append(piece)
            total += piece.size
        talkers.append(np.concatenate(pieces))
    mixed = noise.babble_mix(talkers, native_n, rng)
    return noise.unit_rms(_to_16k(mixed)[:n])


def noise_signal(rng: np.random.Generator, engine: tts.Session, cfg: Mapping,
                 kinds: Sequence[str], n: int, recordings: Sequence = ()) -> tuple[np.ndarray, str]:
    """Unit-RMS noise of one kind, or of two kinds with probability cfg['second_noise_prob'].

    With `recordings` ((source, path) pairs of real noise files), the first noise is a crop of
    one of them with probability cfg['real_noise_prob'] (drawn only then, so a dataset without
    recordings keeps its samples)."""
    first = None
    if recordings and rng.random() < float(cfg["real_noise_prob"]):
        speed, tilt = 1.0, 0.0
        if float(cfg.get("real_noise_perturb", 0.0)) and rng.random() < float(cfg["real_noise_perturb"]):
            # a few recordings made many: the same machine or wind at another speed and colour
            speed, tilt = 2 ** rng.uniform(-0.5, 0.5), rng.uniform(-3.0, 3.0)
        first, path = noise_crop(rng, [recordings[int(rng.integers(len(recordings)))][1]], n, speed, tilt)
        chosen = [f"real:{path.stem}"]
    else:
        chosen = [kinds[int(rng.integers(len(kinds)))]]
    if len(kinds) > 1 and rng.random() < float(cfg["second_noise_prob"]):
        others = [k for k in kinds if k != chosen[0]]
        chosen.append(others[int(rng.integers(len(others)))])
    total = np.zeros(n)
    for i, kind in enumerate(chosen):
        if i == 0 and first is not None:
            x = first
        else:
            x = babble(rng, engine, cfg, n) if kind == "babble" else noise.procedural(kind, n, rng, SR)
        # the second source sits 0..10 dB below the first
        total += x if i == 0 else 10 ** (-rng.uniform(0.0, 10.0) / 20) * x
    return noise.unit_rms(total), "+".join(chosen)


def band_limit(rng: np.random.Generator, x: np.ndarray, cutoff_hz: Sequence[float]) -> tuple[np.ndarray, int]:
    """Speech through a low-pass at a cutoff drawn from cutoff_hz, as a telephone or a cheap
    microphone records it: the clean target is band-limited too, so the model learns to keep what
    is there and not to invent the missing band."""
    cutoff = int(rng.uniform(*(float(v) for v in cutoff_hz)))
    sos = butter(8, cutoff, btype="low", fs=SR, output="sos")
    return sosfiltfilt(sos, x), cutoff


def make(seed: int, cfg: Mapping, accents: Sequence[str], variants: Sequence[str],
         kinds: Sequence[str], recordings: Sequence = (), voices: Sequence = (),
         flite_voices: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, dict]:
    """(clean, noisy, metadata) for one utterance; float32 at 16 kHz, peaks below PEAK_LIMIT.

    `recordings`: real noise files (noise_signal); `voices`: real speech groups (real.py), used
    for the speech with probability cfg['real_speech_prob']; `flite_voices`: flite voices, used
    with probability cfg['flite_prob'] (each chance drawn only when its source is given)."""
    rng = np.random.default_rng(seed)
    with tts.Session() as engine:
        if voices and rng.random() < float(cfg["real_speech_prob"]):
            clean, source, group, used = real_speech(rng, voices, cfg["seconds"], pad=True)
            meta = dict(voice=f"real:{source.package}/{group}", accent="", variant="", rate=0, pitch=0,
                        pitch_range=0, text=";".join(p.name for p in used))
        elif flite_voices and rng.random() < float(cfg["flite_prob"]):
            clean, meta = flite_speech(rng, cfg, flite_voices)
        else:
            clean, meta = speech(rng, engine, cfg, accents, variants)
        if float(cfg.get("bandlimit_prob", 0)) > 0 and rng.random() < float(cfg["bandlimit_prob"]):
            clean, meta["bandlimit_hz"] = band_limit(rng, clean, cfg["bandlimit_hz"])
        level = active_level(clean, SR)
        if level.power <= 0:
            raise RuntimeError(f"espeak-ng produced silence for {meta}")
        noise_x, noise_name = noise_signal(rng, engine, cfg, kinds, clean.size, recordings)
    clean, noisy, info = mix(rng, clean, noise_x, level.power, level.db, cfg["snr_db"], cfg["speech_level_db"])
    meta.update(noise=noise_name, **info, seed=seed)
    return clean, noisy, meta


def mix(rng: np.random.Generator, clean: np.ndarray, noise_x: np.ndarray, power: float,
        level_db: float, snr_db: Sequence[float], speech_level_db: Sequence[float]):
    """(clean, noisy, info): unit-RMS noise added at an SNR drawn from snr_db, then both scaled so
    the speech sits at a level drawn from speech_level_db, kept below PEAK_LIMIT."""
    snr = rng.uniform(*(float(v) for v in snr_db))
    # SNR against the P.56 active speech level (VoiceBank-DEMAND's convention): the noise power
    # is the active speech power divided by 10^(SNR/10)
    noisy = clean + np.sqrt(power / 10 ** (snr / 10)) * noise_x
    gain = 10 ** ((rng.uniform(*(float(v) for v in speech_level_db)) - level_db) / 20)
    peak = np.max(np.abs(noisy)) * gain
    if peak > PEAK_LIMIT:
        gain *= PEAK_LIMIT / peak
    info = dict(snr_db=round(snr, 3), speech_level_db=round(level_db + 20 * np.log10(gain), 3),
                seconds=round(clean.size / SR, 4))
    return (clean * gain).astype(np.float32), (noisy * gain).astype(np.float32), info
