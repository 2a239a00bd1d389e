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
writes on the machine that ran it (not in git). What the page embeds from them is also kept in
results/<study>/listening/<split>.json (committed with a run's results, about the page's own size):
a run spread over sessions on fresh machines has each cell's wavs only where that cell ran, and a
page rebuilt from a clean checkout would otherwise lose its players. A clip is taken from the wavs
where they are and from that file where not, so both give the same bytes; without either the
section says so.
"""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.signal import stft

from benchmark.durable import read_json, write_atomic

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


def _clip(audio: np.ndarray, gain: float) -> dict:
    excerpt = audio[: int(EXCERPT_S * SR)] * gain
    return {"mp3": mp3_base64(excerpt), "spectrogram": spectrogram_base64(excerpt)}


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
    Utterances are ordered by input SNR, lowest first. Clips come from the cells' wavs where they
    are, else from results/<study>/listening/<split>.json, which this rewrites with what it shows."""
    systems = chosen_systems(summary)
    cache = cells_dir.parent / "listening" / f"{split}.json" if cells_dir else None
    kept = (read_json(cache) if cache else None) or {}
    found = {cell: _files(cells_dir / cell, split) for cell, _ in systems} if cells_dir else {}
    names = sorted(set().union(*found.values())
                   | {n for n, u in kept.items() if set(u.get("clips", {})) & {c for c, _ in systems}})
    if not names:
        where = f"{cells_dir}/<cell>/examples/" if cells_dir else "results/<study>/cells/<cell>/examples/"
        return {"utterances": [], "bytes": 0,
                "missing": f"No audio examples of this split were found in {where} or in the "
                           "clips a report kept beside the results (listening/): a run keeps its "
                           "wavs on the machine that ran it, outside git. Re-running the study "
                           "there brings them back."}
    shown: dict = {}
    utterances = []
    for name in names:
        wavs = [found[c][name] for c, _ in systems if name in found.get(c, {})]
        old = kept.get(name, {})
        if wavs:
            noisy, clean = _read(wavs[0]["noisy"]), _read(wavs[0]["clean"])
            gain = PEAK / max(float(np.max(np.abs(noisy[: int(EXCERPT_S * SR)]))), 1e-6)
            entry = {"snr_db": input_snr_db(clean, noisy), "clips": {
                "noisy": _clip(noisy, gain), "clean": _clip(clean, gain)}}
        else:
            gain, entry = None, {"snr_db": old["snr_db"], "clips": {k: old["clips"][k] for k in ("noisy", "clean")}}
        for cell, _ in systems:
            if gain is not None and "enhanced" in found[cell].get(name, {}):
                entry["clips"][cell] = _clip(_read(found[cell][name]["enhanced"]), gain)
            elif cell in old.get("clips", {}) and f"{old['snr_db']:.1f}" == f"{entry['snr_db']:.1f}":
                entry["clips"][cell] = old["clips"][cell]
        shown[name] = entry
        labels = [("noisy", "noisy input"), ("clean", "clean reference")] + systems
        clips = [{**entry["clips"][key], "label": label} for key, label in labels if key in entry["clips"]]
        snr = entry["snr_db"]
        utterances.append({"name": name, "snr_db": snr, "snr": f"{snr:.1f} dB", "clips": clips})
    if cache is not None and shown != kept:
        write_atomic(cache, json.dumps(shown, indent=1, sort_keys=True) + "\n")   # sorted: stable diffs
    utterances.sort(key=lambda u: u["snr_db"])
    size = sum(len(c["mp3"]) + len(c["spectrogram"]) for u in utterances for c in u["clips"])
    return {"utterances": utterances, "bytes": size, "missing": ""}
