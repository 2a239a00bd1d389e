"""Speech from Debian's flite (CMU Flite 2.2): an optional training source beside espeak-ng.

flite's voices are more natural than espeak-ng's formant synthesis: awb, rms and slt are
statistical-parametric (clustergen) voices built from CMU ARCTIC speakers, kal16 a diphone voice,
all at 16 kHz. docs/data.md allows them as an extra source, never a requirement; they go into the
train split only (the test splits stay espeak-ng, the `real` split real speech). flite is
deterministic: the same text and settings give the same samples.

Prosody: the utterance's drawn espeak-style rate, pitch and pitch range become flite's
duration_stretch, int_f0_target_mean (inside the voice's register) and int_f0_target_stddev,
which every one of these voices honours (measured: slt's median F0 follows a 100 or 250 Hz target).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16_000
VOICES = {"awb": "male", "rms": "male", "slt": "female", "kal16": "male"}
F0_HZ = {"male": (85.0, 150.0), "female": (150.0, 260.0)}   # the register a pitch of 0..100 spans
NOMINAL_WPM = 160.0                                           # flite's rate at duration_stretch 1
INSTALL = "apt-get install flite"


class FliteMissing(RuntimeError):
    """flite was asked for and is not installed (or lacks a voice)."""


def binary() -> str | None:
    return shutil.which("flite")


@lru_cache(maxsize=1)
def version() -> str:
    """flite's version line, part of the dataset hash where flite speech is used."""
    exe = binary()
    if exe is None:
        raise FliteMissing(f"flite speech needs Debian's flite: {INSTALL} (or data.flite_speech=false)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return (out.stdout or out.stderr).strip().splitlines()[0]


def check_voices(voices) -> None:
    unknown = [v for v in voices if v not in VOICES]
    if unknown:
        raise FliteMissing(f"data.flite_voices: {unknown} are not among flite's 16 kHz voices {list(VOICES)}")


def prosody(voice: str, rate: int, pitch: int, pitch_range: int) -> dict[str, float]:
    """flite features from the espeak-style settings an utterance draws (rate in words per minute,
    pitch and pitch_range on espeak's 0..100 scale)."""
    lo, hi = F0_HZ[VOICES[voice]]
    return {"duration_stretch": round(NOMINAL_WPM / float(rate), 4),
            "int_f0_target_mean": round(lo + (hi - lo) * float(pitch) / 100.0, 2),
            "int_f0_target_stddev": round(0.4 * float(pitch_range), 2)}


def synth(text: str, voice: str, features: dict[str, float]) -> np.ndarray:
    """Float samples at 16 kHz."""
    exe = binary()
    if exe is None:
        version()                                  # raises the install message
    check_voices([voice])
    with tempfile.TemporaryDirectory(prefix="benchmark-flite-") as tmp:
        out = Path(tmp) / "x.wav"
        args = [exe, "-voice", voice]
        for key, value in features.items():
            args += ["--setf", f"{key}={value}"]
        done = subprocess.run(args + ["-t", text, "-o", str(out)], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not out.is_file():
            raise FliteMissing(f"flite -voice {voice} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
        x, sr = sf.read(out, dtype="float64")
    if sr != SR:
        raise FliteMissing(f"flite voice {voice} gave {sr} Hz audio; expected {SR}")
    return x
