"""The report's listening section: for the example utterances every cell kept (the same ones in
each cell, spread over the input-SNR range: conditions.spanning_examples), players for the noisy
input, the clean reference and a few systems' outputs, each with its spectrogram.

The clips are files beside the page, reports/<study>/clips/<split>/<utterance>_<who>.{mp3,jpg}
(<who>: noisy, clean or a cell's hash), with reports/<study>/clips/<split>.json naming what each
utterance shows and its input SNR. Files and not data URIs because the page is committed with each
reference run and rebuilt as cells finish: an embedded clip made every rebuild a new multi-MB
blob in git, where an unchanged clip file is the same blob as before (the plots, small, stay
embedded). The page therefore needs its folder: copy reports/<study>.html with reports/<study>/.

What bounds the folder: excerpts of at most EXCERPT_S seconds, MP3 at MP3_KBPS kb/s mono 16 kHz (a
format every current browser plays; Opus is smaller but Safari plays Ogg only recently), JPEG
spectrograms, and the systems limited to the study's contrast (its two arms, contrast.py) plus the
predictive baseline, or without a contrast the split's best MAX_DIFFUSION diffusion cells: about 24 kB
per clip, a three-utterance split with four cells about 0.5 MB.

The audio comes from results/<study>/cells/<hash>/examples/<split>_<name>_<role>.wav, which a run
writes on the machine that ran it (not in git). A run spread over sessions on fresh machines has
each cell's wavs only where that cell ran, so a clip is made from the wavs where they are and kept
from the committed clip files where not (the same bytes either way); without either the section
says so. Clips of cells the page no longer shows are removed.
"""
from __future__ import annotations

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

from benchmark.durable import read_json, write_atomic, write_bytes_atomic
from benchmark.report import contrast as study_contrast

EXCERPT_S = 4.0
MP3_KBPS = 32
MAX_DIFFUSION = 4
SR = 16000
PEAK = 0.89             # −1 dBFS: every clip of one utterance gets the same gain (levels compare)
ROLES = ("noisy", "enhanced", "clean")


def foreign(name: str, split: str, splits=()) -> bool:
    """Whether an example named `<split>_<name>_<role>.wav` belongs to another split whose name
    begins with this one's: `test_mismatched_x_noisy.wav` matches `test_*.wav` as utterance
    `mismatched_x` of `test`."""
    return any(o != split and o.startswith(f"{split}_") and f"{split}_{name}".startswith(f"{o}_") for o in splits)


def _files(cell_dir: Path, split: str, splits=()) -> dict[str, dict[str, Path]]:
    """{utterance name: {role: wav}} of one cell's examples for `split` (not those of `splits` that
    share its prefix)."""
    out: dict[str, dict[str, Path]] = {}
    pattern = re.compile(rf"^{re.escape(split)}_(.+)_({'|'.join(ROLES)})\.wav$")
    folder = cell_dir / "examples"
    for f in sorted(folder.glob(f"{split}_*.wav")) if folder.is_dir() else []:
        m = pattern.match(f.name)
        if m and not foreign(m.group(1), split, splits):
            out.setdefault(m.group(1), {})[m.group(2)] = f
    return out


def _read(path: Path) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=False)
    if sr != SR or audio.ndim != 1:
        raise ValueError(f"{path}: expected mono {SR} Hz audio, found {sr} Hz with shape {audio.shape}")
    return audio


def mp3_bytes(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # compression_level maps linearly onto the bitrates MPEG-2 Layer III allows at 16 kHz
    # (0: 160 kb/s, 1: 8 kb/s; measured: 0.842 gives 32.8 kb/s).
    level = float(np.clip((160 - MP3_KBPS) / (160 - 8), 0, 1))
    sf.write(buffer, audio, SR, format="MP3", subtype="MPEG_LAYER_III", compression_level=level,
             bitrate_mode="CONSTANT")
    return buffer.getvalue()


def spectrogram_jpeg(audio: np.ndarray) -> bytes:
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
    return buffer.getvalue()


def _clip(audio: np.ndarray, gain: float) -> dict[str, bytes]:
    excerpt = audio[: int(EXCERPT_S * SR)] * gain
    return {"mp3": mp3_bytes(excerpt), "jpg": spectrogram_jpeg(excerpt)}


def _kept(folder: Path, name: str, who: str) -> dict[str, bytes] | None:
    files = {ext: folder / f"{name}_{who}.{ext}" for ext in ("mp3", "jpg")}
    return {ext: f.read_bytes() for ext, f in files.items()} if all(f.is_file() for f in files.values()) else None


def chosen_systems(summary: pd.DataFrame, contrast: dict | None = None) -> list[tuple[str, str]]:
    """(cell, display label): the contrast's two arms, or without one the best MAX_DIFFUSION
    diffusion cells; then the predictive baseline."""
    return study_contrast.systems(summary, contrast, fallback=MAX_DIFFUSION)


def input_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The mixture's SNR over the whole file (the data's own figure is against the active speech
    level, which the report does not have for every data kind)."""
    noise = float(np.sum((noisy - clean) ** 2))
    return 10 * np.log10(max(float(np.sum(clean ** 2)), 1e-12) / max(noise, 1e-12))


def section(cells_dir: Path | None, summary: pd.DataFrame, split: str,
            clips_dir: Path | None = None, href: str = "clips", splits=(), contrast: dict | None = None) -> dict:
    """{"utterances": [{name, snr, clips: [{label, mp3, spectrogram}]}], "bytes", "missing": why
    there are no players, "systems": what they show, in words}; mp3 and spectrogram are the clip
    files' addresses, `href`/<split>/….
    Utterances are ordered by input SNR, lowest first. Writes the clips into clips_dir/<split>/
    (without a clips_dir there is nowhere to put them, and the section says so). `splits`: every
    split of the study, so that another split's examples are never shown under this one."""
    systems = chosen_systems(summary, contrast)
    words = study_contrast.describe(summary, contrast, "the split's best diffusion cells")
    folder = clips_dir / split if clips_dir else None
    index = clips_dir / f"{split}.json" if clips_dir else None
    on_disk = (read_json(index) if index else None) or {}
    kept = {n: u for n, u in on_disk.items() if not foreign(n, split, splits)}
    found = {cell: _files(cells_dir / cell, split, splits) for cell, _ in systems} if cells_dir else {}
    names = sorted(set().union(*found.values())
                   | {n for n, u in kept.items() if set(u.get("clips", [])) & {c for c, _ in systems}})
    if not names or folder is None:
        where = f"{cells_dir}/<cell>/examples/" if cells_dir else "results/<study>/cells/<cell>/examples/"
        return {"utterances": [], "bytes": 0, "systems": words,
                "missing": f"No audio examples of this split were found in {where} or among the "
                           "clips a report keeps beside its page (reports/<study>/clips/): a run "
                           "keeps its wavs on the machine that ran it, outside git. Re-running the "
                           "study there brings them back."}
    shown: dict = {}
    made: dict[str, bytes] = {}
    utterances = []
    for name in names:
        wavs = [found[c][name] for c, _ in systems if name in found.get(c, {})]
        old = kept.get(name, {})
        clips: dict[str, dict[str, bytes]] = {}
        if wavs:
            noisy, clean = _read(wavs[0]["noisy"]), _read(wavs[0]["clean"])
            gain = PEAK / max(float(np.max(np.abs(noisy[: int(EXCERPT_S * SR)]))), 1e-6)
            snr = input_snr_db(clean, noisy)
            clips = {"noisy": _clip(noisy, gain), "clean": _clip(clean, gain)}
        else:
            gain, snr = None, old["snr_db"]
            clips = {who: _kept(folder, name, who) for who in ("noisy", "clean")}
        same_utterance = f"{old.get('snr_db', float('nan')):.1f}" == f"{snr:.1f}"
        for cell, _ in systems:
            if gain is not None and "enhanced" in found[cell].get(name, {}):
                clips[cell] = _clip(_read(found[cell][name]["enhanced"]), gain)
            elif cell in old.get("clips", []) and same_utterance:
                clips[cell] = _kept(folder, name, cell)
        clips = {who: c for who, c in clips.items() if c is not None}
        shown[name] = {"snr_db": snr, "clips": sorted(clips)}
        made.update({f"{name}_{who}.{ext}": data for who, c in clips.items() for ext, data in c.items()})
        labels = [("noisy", "noisy input"), ("clean", "clean reference")] + systems
        utterances.append({"name": name, "snr_db": snr, "snr": f"{snr:.1f} dB", "clips": [
            {"label": label, "mp3": f"{href}/{split}/{name}_{who}.mp3",
             "spectrogram": f"{href}/{split}/{name}_{who}.jpg"}
            for who, label in labels if who in clips]})
    for file, data in made.items():               # rewritten only when changed: stable in git
        path = folder / file
        if not path.is_file() or path.read_bytes() != data:
            write_bytes_atomic(path, data)
    for stale in folder.glob("*.*"):
        if stale.name not in made:
            stale.unlink()
    if shown != on_disk:
        write_atomic(index, json.dumps(shown, indent=1, sort_keys=True) + "\n")   # sorted: stable diffs
    utterances.sort(key=lambda u: u["snr_db"])
    silent = [label for cell, label in systems if not any(cell in u["clips"] for u in shown.values())]
    if silent:
        words += (f"; no clip of {', '.join(silent)}: {'its' if len(silent) == 1 else 'their'} audio "
                  "examples are not on this machine (a rerun of the study here makes them)")
    return {"utterances": utterances, "bytes": sum(len(d) for d in made.values()), "missing": "",
            "systems": words}
