"""The listening section: players and spectrograms embedded, decodable, the same utterances for
every system, ordered by input SNR, and a clear note when the audio examples are absent."""
import base64
import io
import re

import numpy as np
import pandas as pd
import soundfile as sf
from matplotlib.image import imread

from benchmark.report import build_report
from benchmark.report.listening import EXCERPT_S, MAX_DIFFUSION, SR

from .conftest import STUDY

AUDIO = re.compile(r'src="data:audio/mpeg;base64,([A-Za-z0-9+/=]+)"')
JPEG = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')
HEADER = re.compile(r"<th colspan=\"3\">([^<]+) · input SNR (-?[0-9.]+) dB</th>")


def _write_examples(dirs, split="test", seconds=(5.0, 2.0), snrs=(12.0, -3.0)):
    """Noisy/enhanced/clean wavs for every cell of the fixture's split, as a run leaves them."""
    table = pd.read_csv(dirs.cells, dtype=str, keep_default_na=False)
    cells = table[(table["split"] == split) & (table["kind"] != "input")]["cell"].unique()
    rng = np.random.default_rng(0)
    for cell in cells:
        folder = dirs.results / STUDY / "cells" / cell / "examples"
        folder.mkdir(parents=True, exist_ok=True)
        for k, (length, snr) in enumerate(zip(seconds, snrs)):
            t = np.arange(int(length * SR)) / SR
            clean = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            noise = np.random.default_rng(k).normal(size=t.size).astype(np.float32)
            noise *= np.sqrt(np.sum(clean ** 2) / np.sum(noise ** 2) / 10 ** (snr / 10))
            enhanced = clean + 0.1 * rng.normal(size=t.size).astype(np.float32) * 0.01
            for role, audio in (("noisy", clean + noise), ("enhanced", enhanced), ("clean", clean)):
                sf.write(folder / f"{split}_utt{k}_{role}.wav", audio, SR, subtype="FLOAT")


def test_players_and_spectrograms_decode_and_span_every_system(dirs):
    _write_examples(dirs)
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    heads = HEADER.findall(section)
    assert [name for name, _ in heads] == ["utt1", "utt0"]            # lowest input SNR first
    assert abs(float(heads[0][1]) - -3.0) < 0.2 and abs(float(heads[1][1]) - 12.0) < 0.2
    table = pd.read_csv(dirs.cells, dtype=str, keep_default_na=False)
    kinds = table[table["split"] == "test"].drop_duplicates("cell")["kind"]
    n_systems = min(MAX_DIFFUSION, int((kinds == "diffusion").sum())) + int((kinds == "predictive").any())
    clips = AUDIO.findall(section)
    assert len(clips) == 2 * (2 + n_systems)                          # noisy, clean, systems
    assert len(JPEG.findall(section)) == len(clips)
    lengths = []
    for clip in clips:
        audio, sr = sf.read(io.BytesIO(base64.b64decode(clip)))
        assert sr == SR and np.max(np.abs(audio)) > 0.01
        lengths.append(len(audio) / sr)
    # utt1 is 2 s long, utt0 5 s cut to the excerpt (the MP3 encoder pads about 0.1 s)
    assert all(2.0 <= s < 2.2 for s in lengths[: len(lengths) // 2])
    assert all(EXCERPT_S <= s < EXCERPT_S + 0.2 for s in lengths[len(lengths) // 2:])
    for jpeg in JPEG.findall(section):
        image = imread(io.BytesIO(base64.b64decode(jpeg)), format="jpeg")
        assert image.shape[0] == 90 and image.shape[1] == 360
    assert "No audio examples" not in section


def test_page_says_why_players_are_missing(dirs):
    html = build_report(*dirs.args()).read_text()
    assert "data:audio/" not in html
    assert html.count("No audio examples of this split were found") == html.count('<section id="split-')


def test_players_share_one_gain_per_utterance(dirs):
    _write_examples(dirs, seconds=(2.0,), snrs=(0.0,))
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):]
    noisy, clean = (sf.read(io.BytesIO(base64.b64decode(c)))[0] for c in AUDIO.findall(section)[:2])
    assert 0.75 < np.max(np.abs(noisy)) < 1.0                        # −1 dBFS peak, less what MP3 smears
    # the clean clip keeps its level relative to the noisy one (0 dB SNR: about 1/√2 of its RMS)
    ratio = np.sqrt(np.mean(clean ** 2) / np.mean(noisy ** 2))
    assert 0.6 < ratio < 0.8


def _without_build_time(html: str) -> str:
    return re.sub(r"built \d{4}-\d\d-\d\d \d\d:\d\d UTC", "built …", html)


def test_a_page_rebuilt_without_the_wavs_keeps_its_players_from_the_kept_clips(dirs):
    """A run over several fresh machines has each cell's wavs only where it ran: the clips the page
    embedded are kept beside the results, so a rebuild from a clean checkout is the same page."""
    import shutil

    _write_examples(dirs)
    first = build_report(*dirs.args()).read_text()
    kept = dirs.results / STUDY / "listening" / "test.json"
    assert kept.is_file() and "data:audio/" in first
    shutil.rmtree(dirs.results / STUDY / "cells")
    again = build_report(*dirs.args()).read_text()
    assert _without_build_time(again) == _without_build_time(first)
    # a shown cell without wavs or a kept clip (its rows came from an older page's run) has no
    # player; the others keep theirs
    import json

    clips = json.loads(kept.read_text())
    dropped = next(k for k in next(iter(clips.values()))["clips"] if k not in ("noisy", "clean"))
    for entry in clips.values():
        del entry["clips"][dropped]
    kept.write_text(json.dumps(clips))
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    before = first[first.index('id="split-test"'):first.index("</section>", first.index('id="split-test"'))]
    assert len(AUDIO.findall(section)) == len(AUDIO.findall(before)) - len(clips)
