"""Real recordings that installed packages ship, as sources: speech and noise pools, reading, cropping.

Speech and noise come from Debian and npm packages (none of docs/data.md's off-limits packages):

    speech  klettres-data (letters and syllables, ~20 languages), ktuberling-data (words, ~25
            languages), codec2-examples and linphone-common (read sentences, some at 8 kHz:
            real band-limited speech)
    noise   lmms-common (crowd, applause), wesnoth-1.16-data (ambiences: birds, campfire, night,
            a ship), supersonic-scsynth-samples from npm (CC0: vinyl hiss, a 3-D printer,
            industrial machinery, hums, drones, a safari ambience); for training only,
            openttd-opensfx (vehicles, aircraft, machinery, wind, applause, animals: opensfx.py)

Every file is assigned to one of two pools by a hash of its group (a speech language or sentence
file; a noise file): `real` (the evaluation split, real.py) or `train` (what data=synthetic's
`real_noise` and `real_speech` train on). No file is in both, and no speech language is on both
sides. A missing package raises `MissingSource` with the command that installs it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..audio.io import resample
from . import opensfx
from .noise import unit_rms
from .signal import SILENCE_S, SR, trim_silence

SECONDS = (2.0, 4.0)          # drawn per utterance; a phrase of few short words may end sooner
HELD_OUT = 0.4               # share of each source's groups in the `real` pool
NPM_ROOTS = ("/usr/lib/node_modules", "/usr/local/lib/node_modules", "~/.npm-global/lib/node_modules")


class MissingSource(RuntimeError):
    """A package the real recordings come from is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Source:
    package: str
    manager: str              # deb | npm
    kind: str                 # speech | noise
    licence: str              # from the package's copyright file
    patterns: tuple[str, ...]  # globs under the package's root
    style: str = "clip"       # speech: words (short items strung into a phrase) | sentences (crops)
    group_depth: int | None = None   # path part naming the speaker group; None: the file itself
    container: str = ""       # "opensfx": the files are entries of one packed catalogue

    def root(self) -> Path:
        if self.manager == "deb":
            return Path("/")
        roots = [os.environ.get("BENCHMARK_NPM_ROOT", "")] + list(NPM_ROOTS)
        for r in roots:
            if r and (Path(r).expanduser() / self.package / "package.json").is_file():
                return Path(r).expanduser() / self.package
        return Path("/nonexistent") / self.package

    def files(self) -> list[Path]:
        if self.container == "opensfx":
            return opensfx.recordings(self.root() / opensfx.CONTAINER.relative_to("/"))
        return list(_glob(self.root(), self.patterns))

    def group(self, path: Path) -> str:
        return path.parts[self.group_depth] if self.group_depth is not None else path.name

    def version(self) -> str:
        return _version(self)

    def install_hint(self) -> str:
        return (f"apt-get install {self.package}" if self.manager == "deb"
                else f"npm install -g {self.package}@{NPM_VERSION}")


@lru_cache(maxsize=64)
def _glob(root: Path, patterns: tuple[str, ...]) -> tuple[Path, ...]:
    # once per process and root: without it every eval_splits call, dataset hash and data chunk
    # re-globbed ~3,000 files (a package installed while a process runs is seen by the next one)
    found = {p.resolve() for pat in patterns for p in root.glob(pat.lstrip("/")) if p.is_file()}
    return tuple(sorted(found))


@lru_cache(maxsize=None)
def _version(source: Source) -> str:
    if source.manager == "npm":
        return json.loads((source.root() / "package.json").read_text())["version"]
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", source.package],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
NPM_VERSION = "0.84.2"
_C2, _SS = "/usr/share/codec2", "samples"
SOURCES = (
    Source("klettres-data", "deb", "speech", "GPL-2+",
           ("/usr/share/klettres/*/alpha/*.ogg", "/usr/share/klettres/*/syllab/*.ogg"), "words", 4),
    Source("ktuberling-data", "deb", "speech", "GPL-2+", ("/usr/share/ktuberling/sounds/*/*.ogg",),
           "words", 5),
    # the originals only: f2400/m2400 and the radio recordings (ve9qrp, vk5qi) are coded or noisy
    Source("codec2-examples", "deb", "speech", "LGPL-2.1",
           tuple(f"{_C2}/wav/{n}.wav" for n in ("hts1a", "hts2a", "morig", "forig", "big_dog",
                                                 "mmt1", "david4")) + (f"{_C2}/raw/speech_orig_16k.wav",),
           "sentences"),
    Source("linphone-common", "deb", "speech", "GPL-3+", ("/usr/share/sounds/linphone/hello16000.wav",),
           "sentences"),
    Source("lmms-common", "deb", "noise", "GPL-2+",
           ("/usr/share/lmms/samples/misc/raving_crowd01.ogg", "/usr/share/lmms/samples/misc/applause01.ogg")),
    Source("wesnoth-1.16-data", "deb", "noise", "GPL-2+",
           ("/usr/share/games/wesnoth/1.16/data/core/sounds/ambient/*.ogg",)),
    Source("supersonic-scsynth-samples", "npm", "noise", "CC0-1.0",
           tuple(f"{_SS}/{n}.flac" for n in ("vinyl_hiss", "loop_3d_printer", "loop_industrial",
                                              "ambi_soft_buzz", "ambi_glass_hum", "ambi_haunted_hum",
                                              "ambi_drone", "ambi_lunar_land", "ambi_dark_woosh",
                                              "ambi_sauna", "loop_safari"))),
)
# Training only: never in the `real` split, so adding it left the split and every study's real
# column as they were (its 39 recordings are data.real_noise_opensfx's; docs/data.md)
OPENSFX = Source("openttd-opensfx", "deb", "noise", "CC-BY-SA-3.0 (entries CC-BY-3.0, CC-BY-SA-3.0 or CC0)",
                 (), container="opensfx")
TRAIN_ONLY = (OPENSFX,)


def missing(sources=SOURCES) -> list[Source]:
    return [s for s in sources if not s.files()]


def require(sources=SOURCES, what: str = "the real-recordings split") -> None:
    gone = missing(sources)
    if gone:
        deb = [s.package for s in gone if s.manager == "deb"]
        npm = [s.install_hint() for s in gone if s.manager == "npm"]
        how = ([f"apt-get install {' '.join(deb)}"] if deb else []) + npm
        npm_note = " (or point BENCHMARK_NPM_ROOT at a node_modules folder that has it)" if npm else ""
        raise MissingSource(f"{what} needs packages that are not installed: "
                            f"{', '.join(s.package for s in gone)}. Install them with "
                            f"`{' && '.join(how)}`{npm_note}")


def available() -> bool:
    return not missing()


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def pool(source: Source, which: str) -> list[Path]:
    """The files of `source` in pool `which` (real | train): whole groups, never split."""
    files = source.files()
    groups = sorted({source.group(f) for f in files}, key=lambda g: _rank(f"{source.package}/{g}"))
    n_real = int(np.ceil(HELD_OUT * len(groups))) if len(groups) > 1 else len(groups)
    chosen = set(groups[:n_real]) if which == "real" else set(groups[n_real:])
    return [f for f in files if source.group(f) in chosen]


@lru_cache(maxsize=256)
def read(path: Path) -> np.ndarray:
    """A file as mono float64 at 16 kHz (decoded once per process)."""
    if path.parent.suffix == ".cat":
        mono, rate = opensfx.read(path)
    else:
        x, rate = sf.read(str(path), dtype="float64", always_2d=True)
        mono = x.mean(axis=1)
    return np.asarray(resample(mono, rate), dtype=np.float64)


def _trim(x: np.ndarray, below_peak_db: float = 40.0) -> np.ndarray:
    # relative to the peak: recordings carry a noise floor that synthetic speech has not
    return trim_silence(x, floor=np.max(np.abs(x)) * 10 ** (-below_peak_db / 20))


def noise_crop(rng: np.random.Generator, files: list[Path], n: int,
               speed: float = 1.0, tilt: float = 0.0) -> tuple[np.ndarray, Path]:
    """Unit-RMS noise of n samples from a random file and offset (looped if the file is short),
    replayed `speed` times as fast and tilted by `tilt` dB per octave around 1 kHz."""
    path = files[int(rng.integers(len(files)))]
    x = read(path)
    up, down = _ratio(speed)
    m = n if up == down else int(np.ceil(n * down / up)) + 1   # n: the draws of data made before
    if x.size < m + 1:
        x = np.tile(x, m // max(x.size, 1) + 2)
    for _ in range(8):   # an offset inside a quiet stretch would give silence
        start = int(rng.integers(0, x.size - m))
        crop = x[start:start + m]
        if np.sqrt(np.mean(crop ** 2)) > 1e-4:
            break
    if (up, down) != (1, 1):
        crop = resample_poly(crop, up, down)
    crop = crop[:n]
    if tilt:
        spectrum = np.fft.rfft(crop)
        f = np.clip(np.fft.rfftfreq(crop.size, 1 / SR), 50.0, SR / 2)
        crop = np.fft.irfft(spectrum * 10 ** (tilt * np.log2(f / 1000.0) / 20), crop.size)
    return unit_rms(crop), path


def _ratio(speed: float) -> tuple[int, int]:
    """(up, down) of a polyphase resampler that plays a recording `speed` times as fast."""
    frac = Fraction(1 / speed).limit_denominator(24)
    return frac.numerator, frac.denominator


def speech(rng: np.random.Generator, groups: list[tuple[Source, str, list[Path]]], seconds=SECONDS,
           pad: bool = False):
    """(speech at 16 kHz, its source, group, files used). It lasts up to `seconds`' maximum; a
    phrase of few short items can be shorter than its minimum (single words are real speech too)
    unless `pad` fills it up with silence."""
    # a speaker group drawn uniformly, so a source with one file is not a quarter of the split
    source, group, files = groups[int(rng.integers(len(groups)))]
    lead, tail = rng.uniform(*SILENCE_S), rng.uniform(*SILENCE_S)
    target = int((rng.uniform(*(float(v) for v in seconds)) - lead - tail) * SR)
    if source.style == "sentences":
        path = files[int(rng.integers(len(files)))]
        x = _trim(read(path))
        start = int(rng.integers(0, max(x.size - target, 0) + 1))
        x, used = x[start:start + target], [path]
    else:  # one speaker's items strung into a phrase with short pauses, as in spelling aloud
        pieces, used, total = [], [], 0
        while total < 0.6 * target and len(used) < 12:
            path = files[int(rng.integers(len(files)))]
            item = _trim(read(path))
            if total + item.size > target and used:
                break
            gap = np.zeros(int(rng.uniform(0.05, 0.25) * SR))
            pieces += [item, gap]
            used.append(path)
            total += item.size + gap.size
        x = np.concatenate(pieces[:-1])[:target]
    x = np.concatenate([np.zeros(int(lead * SR)), x, np.zeros(int(tail * SR))])
    short = int(float(seconds[0]) * SR) - x.size
    if pad and short > 0:
        x = np.concatenate([x, np.zeros(short)])
    return x, source, group, used


def speech_groups(which: str) -> list[tuple[Source, str, list[Path]]]:
    """(source, speaker group, its files) of every speech source's pool `which`."""
    out = []
    for s in SOURCES:
        if s.kind == "speech":
            groups: dict[str, list[Path]] = {}
            for f in pool(s, which):
                groups.setdefault(s.group(f), []).append(f)
            out += [(s, g, groups[g]) for g in sorted(groups)]
    return out


def train_speech_groups() -> list[tuple[Source, str, list[Path]]]:
    """The real-speech training pool (languages and files the `real` split never uses)."""
    require([s for s in SOURCES if s.kind == "speech"], "data.real_speech")
    return [g for g in speech_groups("train") if g[2]]


def train_noise_files(opensfx: bool = False) -> list[tuple[Source, list[Path]]]:
    """The real-noise training pool, for data=synthetic's `real_noise`; with `opensfx`, OpenSFX's
    recordings too (data.real_noise_opensfx)."""
    require([s for s in SOURCES if s.kind == "noise"], "data.real_noise")
    out = [(s, pool(s, "train")) for s in SOURCES if s.kind == "noise"]
    if opensfx:
        require([OPENSFX], "data.real_noise_opensfx")
        out.append((OPENSFX, OPENSFX.files()))
    return out
