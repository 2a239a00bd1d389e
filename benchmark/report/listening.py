"""The report's listening section: for the example utterances every cell kept (the same ones in
each cell, spread over the input-SNR range: conditions.spanning_examples), players for the noisy
input, the clean reference and a few systems' outputs, each with its spectrogram, embedded in the
page so it stays one file.

What bounds the page: excerpts of at most EXCERPT_S seconds, MP3 at MP3_KBPS kb/s mono 16 kHz (a
format every current browser plays; Opus is smaller but Safari plays Ogg only recently), JPEG
spectrograms, and the systems limited to the split's best MAX_DIFFUSION diffusion cells plus the
predictive baseline. About 32 kB per clip once base64-encoded: a three-utterance split with four
cells is about 0.7 MB. build.py prints the page's and this section's size when it writes.

The audio comes from results/<study>/cells/<hash>/examples/<split>_<name>_<role>.wav, which a run
writes on the machine that ran it (not in git): without those files the section says so.
"""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.signal import stft

EXCERPT_S = 4.0
MP3_KBPS = 32
MAX_DIFFUSION = 4
SR = 16000
PEAK = 0.89             # −1 dBFS: every clip of one utterance gets the same gain (levels compare)
ROLES = ("noisy", "enhanced", "clean")


def _files(cell_dir: Path, split: str) -> dict[str, dict[str, Path]]:
    """{utterance name: {role: wav}} of one cell's examples for `split`."""
    out: dict[str, dict[str, Path]] = {}
    pattern = re.compile(rf"^{re.escape(split)}_(.+)_({'|'.join(ROLES)})\.wav$")
    folder = cell_dir / "examples"
    for f in sorted(folder.glob(f"{split}_*.wav")) if folder.is_dir() else []:
        m = pattern.match(f.name)
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = f
    return out


def _read(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=False)
    if sr != SR or audio.ndim != 1:
        raise ValueError(f"{path}: expected mono {SR} Hz audio, found {sr} Hz with shape {audio.shape}")
    return audio


def mp3_base64(audio: np.ndarray) -> str:
    buffer = io.BytesIO()
    # compression_level maps linearly onto the bitrates MPEG-2 Layer III allows at 16 kHz
    # (0: 160 kb/s, 1: 8 kb/s; measured: 0.842 gives 32.8 kb/s).
    level = float(np.clip((160 - MP3_KBPS) / (160 - 8), 0, 1))
    sf.write(buffer, audio, SR, format="MP3", subtype="MPEG_LAYER_III", compression_level=level,
             bitrate_mode="CONSTANT")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def spectrogram_base64(audio: np.ndarray) -> str:
    """A small log-magnitude spectrogram (0–8 kHz) as a JPEG, one colour scale for all clips."""
    _, _, z = stft(audio, fs=SR, nperseg=512, noverlap=384)
    fig = Figure(figsize=(3.6, 0.9), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(20 * np.log10(np.abs(z) + 1e-8), origin="lower", aspect="auto", cmap="magma",
              vmin=-100, vmax=-10, interpolation="nearest")
    ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", pil_kwargs={"quality": 70})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _clip(label: str, audio: np.ndarray, gain: float) -> dict:
    excerpt = audio[: int(EXCERPT_S * SR)] * gain
    return {"label": label, "mp3": mp3_base64(excerpt), "spectrogram": spectrogram_base64(excerpt),
            "seconds": f"{len(excerpt) / SR:.1f}"}


def chosen_systems(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(cell, display label): the best MAX_DIFFUSION diffusion cells (summary is sorted best first)
    and the predictive baseline."""
    diffusion = summary[summary["kind"] == "diffusion"].head(MAX_DIFFUSION)
    predictive = summary[summary["kind"] == "predictive"].head(1)
    return [(r["cell"], r["display"]) for _, r in pd.concat([diffusion, predictive]).iterrows()]


def input_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The mixture's SNR over the whole file (the data's own figure is against the active speech
    level, which the report does not have for every data kind)."""
    noise = float(np.sum((noisy - clean) ** 2))
    return 10 * np.log10(max(float(np.sum(clean ** 2)), 1e-12) / max(noise, 1e-12))


def section(cells_dir: Path | None, summary: pd.DataFrame, split: str) -> dict:
    """{"utterances": [{name, snr, clips: [...]}], "bytes", "missing": why there are no players}.
    Utterances are ordered by input SNR, lowest first."""
    systems = chosen_systems(summary)
    found = {cell: _files(cells_dir / cell, split) for cell, _ in systems} if cells_dir else {}
    names = sorted(set().union(*(set(v) for v in found.values())) if found else set())
    if not names:
        where = f"{cells_dir}/<cell>/examples/" if cells_dir else "results/<study>/cells/<cell>/examples/"
        return {"utterances": [], "bytes": 0,
                "missing": f"No audio examples of this split were found in {where}: a run keeps them "
                           "on the machine that ran it, outside git, so a page rebuilt elsewhere "
                           "has no players. Re-running the study there brings them back."}
    utterances = []
    for name in names:
        first = next(found[c][name] for c, _ in systems if name in found[c])
        noisy, clean = _read(first["noisy"]), _read(first["clean"])
        gain = PEAK / max(float(np.max(np.abs(noisy[: int(EXCERPT_S * SR)]))), 1e-6)
        clips = [_clip("noisy input", noisy, gain), _clip("clean reference", clean, gain)]
        for cell, label in systems:
            if "enhanced" in found[cell].get(name, {}):
                clips.append(_clip(label, _read(found[cell][name]["enhanced"]), gain))
        snr = input_snr_db(clean, noisy)
        utterances.append({"name": name, "snr_db": snr, "snr": f"{snr:.1f} dB", "clips": clips})
    utterances.sort(key=lambda u: u["snr_db"])
    size = sum(len(c["mp3"]) + len(c["spectrogram"]) for u in utterances for c in u["clips"])
    return {"utterances": utterances, "bytes": size, "missing": ""}

