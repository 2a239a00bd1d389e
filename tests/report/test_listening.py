"""The listening section: players and spectrograms as files beside the page, decodable, the same
utterances for every system, ordered by input SNR, unchanged files left alone on a rebuild, and a
clear note when the audio examples are absent."""
import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import soundfile as sf
from matplotlib.image import imread

from benchmark.report import build_report
from benchmark.report.listening import EXCERPT_S, MAX_DIFFUSION, SR

from .conftest import STUDY

AUDIO = re.compile(rf'<audio[^>]* src="({STUDY}/clips/test/[^"]+\.mp3)"')
JPEG = re.compile(rf'<img[^>]* src="({STUDY}/clips/test/[^"]+\.jpg)"')
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
        audio, sr = sf.read(dirs.reports / clip)
        assert sr == SR and np.max(np.abs(audio)) > 0.01
        lengths.append(len(audio) / sr)
    # utt1 is 2 s long, utt0 5 s cut to the excerpt (the MP3 encoder pads about 0.1 s)
    assert all(2.0 <= s < 2.2 for s in lengths[: len(lengths) // 2])
    assert all(EXCERPT_S <= s < EXCERPT_S + 0.2 for s in lengths[len(lengths) // 2:])
    for jpeg in JPEG.findall(section):
        image = imread(dirs.reports / jpeg, format="jpeg")
        assert image.shape[0] == 90 and image.shape[1] == 360
    assert "No audio examples" not in section
    # the folder holds what the page shows and nothing else
    shown = {dirs.reports / f for f in AUDIO.findall(html) + JPEG.findall(html)}
    assert set((dirs.reports / STUDY / "clips" / "test").iterdir()) == shown


def test_page_says_why_players_are_missing(dirs):
    html = build_report(*dirs.args()).read_text()
    assert "<audio" not in html and not (dirs.reports / STUDY / "clips").exists()
    assert html.count("No audio examples of this split were found") == html.count('<section id="split-')


def test_players_share_one_gain_per_utterance(dirs):
    _write_examples(dirs, seconds=(2.0,), snrs=(0.0,))
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):]
    noisy, clean = (sf.read(dirs.reports / c)[0] for c in AUDIO.findall(section)[:2])
    assert 0.75 < np.max(np.abs(noisy)) < 1.0                        # −1 dBFS peak, less what MP3 smears
    # the clean clip keeps its level relative to the noisy one (0 dB SNR: about 1/√2 of its RMS)
    ratio = np.sqrt(np.mean(clean ** 2) / np.mean(noisy ** 2))
    assert 0.6 < ratio < 0.8


def _without_build_time(html: str) -> str:
    return re.sub(r"built \d{4}-\d\d-\d\d \d\d:\d\d UTC", "built …", html)


def test_a_page_rebuilt_without_the_wavs_keeps_its_players_from_the_kept_clips(dirs):
    """A run over several fresh machines has each cell's wavs only where it ran: the clip files
    the page shows are committed beside it, so a rebuild from a clean checkout is the same page."""
    _write_examples(dirs)
    first = build_report(*dirs.args()).read_text()
    index = dirs.reports / STUDY / "clips" / "test.json"
    folder = dirs.reports / STUDY / "clips" / "test"
    files = {f.name: f.read_bytes() for f in folder.iterdir()}
    assert index.is_file() and AUDIO.findall(first)
    shutil.rmtree(dirs.results / STUDY / "cells")
    again = build_report(*dirs.args()).read_text()
    assert _without_build_time(again) == _without_build_time(first)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == files
    # a shown cell without wavs or a kept clip (its rows came from an older page's run) has no
    # player, and its files go; the others keep theirs
    clips = json.loads(index.read_text())
    dropped = next(k for k in next(iter(clips.values()))["clips"] if k not in ("noisy", "clean"))
    for entry in clips.values():
        entry["clips"].remove(dropped)
    index.write_text(json.dumps(clips))
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    before = first[first.index('id="split-test"'):first.index("</section>", first.index('id="split-test"'))]
    assert len(AUDIO.findall(section)) == len(AUDIO.findall(before)) - len(clips)
    assert not list(folder.glob(f"*_{dropped}.*")) and len(list(folder.iterdir())) == len(files) - 2 * len(clips)


def test_a_rebuild_leaves_unchanged_clips_untouched(dirs):
    """Rebuilt as cells finish, the page must not rewrite its clips: an unchanged file is the same
    blob in git, which is why the clips are files at all."""
    _write_examples(dirs)
    build_report(*dirs.args())
    folder = dirs.reports / STUDY / "clips" / "test"
    names = sorted(f.name for f in folder.iterdir())
    for f in folder.iterdir():
        os.utime(f, ns=(1, 1))                      # a rewrite would move these
    build_report(*dirs.args())
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == {n: 1 for n in names}
    # one shown cell's enhanced wav changes: its two files are rewritten, no other
    index = json.loads((dirs.reports / STUDY / "clips" / "test.json").read_text())
    cell = next(k for k in index["utt0"]["clips"] if k not in ("noisy", "clean"))
    wav = dirs.results / STUDY / "cells" / cell / "examples" / "test_utt0_enhanced.wav"
    audio, sr = sf.read(wav)
    sf.write(wav, audio * 0.5, sr, subtype="FLOAT")
    build_report(*dirs.args())
    moved = sorted(f.name for f in folder.iterdir() if f.stat().st_mtime_ns != 1)
    assert moved == [f"utt0_{cell}.jpg", f"utt0_{cell}.mp3"]


def test_a_split_never_shows_the_examples_of_a_split_named_after_it(dirs):
    """`test_mismatched_<name>_<role>.wav` also matches `test_*.wav`: the `test` section showed three
    test_mismatched utterances on every committed page. Neither its players nor its kept index may."""
    table = pd.read_csv(dirs.cells, dtype=str, keep_default_na=False)
    assert {"test", "test_mismatched"} <= set(table["split"])
    _write_examples(dirs, split="test", seconds=(2.0,), snrs=(5.0,))
    _write_examples(dirs, split="test_mismatched", seconds=(2.0, 2.0), snrs=(0.0, 3.0))
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    assert [name for name, _ in HEADER.findall(section)] == ["utt0"]
    index = dirs.reports / STUDY / "clips" / "test.json"
    assert set(json.loads(index.read_text())) == {"utt0"}
    # an index kept by an older build with the other split's utterances loses them on a rebuild
    clips = json.loads(index.read_text())
    index.write_text(json.dumps({**clips, "mismatched_utt1": clips["utt0"]}))
    shutil.rmtree(dirs.results / STUDY / "cells")
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    assert [name for name, _ in HEADER.findall(section)] == ["utt0"]
    assert set(json.loads(index.read_text())) == {"utt0"}


def _with_contrast(dirs, control=("ouve", "pc N=30"), treatment=("oucosine", "heun N=8")):
    path = dirs.studies / f"{STUDY}.yaml"
    path.write_text(path.read_text() + (
        f"contrast:\n  control: {{sde: {control[0]}, sampler: {control[1]}}}\n"
        f"  treatment: {{sde: {treatment[0]}, sampler: {treatment[1]}}}\n"))


def test_the_players_show_the_studys_contrast_not_its_best_cells(dirs):
    # ouve · pc N=30 ranks 7th of 9 on the fixture: a best-cells rule would never pick it
    _with_contrast(dirs)
    _write_examples(dirs)
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    shown = {re.search(r"_(\w+)\.mp3$", c).group(1) for c in AUDIO.findall(section)}
    assert shown == {"noisy", "clean", "efa83ce8", "55bcdb52", "827bc782"}   # control, treatment, predictive
    labels = re.findall(r"<tr><td>([^<]+)</td>\s*<td><audio", section)
    assert labels[:2] == ["noisy input", "clean reference"] and len(labels) == 10
    assert labels[2].startswith("ouve") and labels[2].endswith("pc N=30 (control)")
    assert labels[3].startswith("oucosine") and labels[3].endswith("heun N=8 (treatment)")
    assert labels[4].startswith("predictive")
    assert ("Systems: the contrast the study is about, its control and its treatment, and the predictive "
            "baseline.") in section


def test_a_contrast_arm_without_audio_is_named_not_silently_dropped(dirs):
    _with_contrast(dirs)
    _write_examples(dirs)
    shutil.rmtree(dirs.results / STUDY / "cells" / "efa83ce8" / "examples")
    html = build_report(*dirs.args()).read_text()
    section = html[html.index('id="split-test"'):html.index("</section>", html.index('id="split-test"'))]
    assert "efa83ce8" not in "".join(AUDIO.findall(section))
    assert re.search(r"no clip of ouve[^<]* pc N=30 \(control\): its audio examples are not on this machine",
                     section)
