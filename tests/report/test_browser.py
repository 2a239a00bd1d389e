"""The report pages open in headless Chromium as in a person's browser: nothing fetched from
outside the page and its own folder (reports/<study>/: the listening clips), no console error, every
plot decodes and every player loads. The checker is itself shown to catch each kind of breakage."""
import base64
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.report import build_report

from ..browser import assert_clean_page

REPORTS = Path(__file__).resolve().parents[2] / "reports"
EXTERNAL = "http://127.0.0.1:9/x.png"     # port 9 (discard) is on Chromium's blocked list: no traffic


def audio_uri(seconds: float, fmt: str, sr: int = 16000) -> str:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, 0.1 * np.sin(2 * np.pi * 440 * t), sr, format=fmt,
             subtype={"WAV": "PCM_16", "OGG": "VORBIS"}[fmt])
    mime = {"WAV": "audio/wav", "OGG": "audio/ogg"}[fmt]
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"


def test_the_page_built_from_the_fixtures_opens_clean(dirs, browser):
    page = build_report(*dirs.args())
    report = browser.open(page.as_uri())
    assert_clean_page(report)
    assert report.images and report.requests[0] == page.as_uri()


def test_the_listening_section_plays_in_the_browser(dirs, browser):
    from .test_listening import _write_examples
    _write_examples(dirs)
    page = build_report(*dirs.args())
    folder = (page.parent / page.stem).as_uri()
    report = browser.open(page.as_uri(), allowed_origin=folder)
    assert_clean_page(report)
    players = [m for m in report.media if m["src"].endswith(".mp3")]
    assert len(players) >= 6 and len(players) == len(report.media) and all(m["ok"] for m in players)
    assert sorted({round(m["duration"]) for m in players}) == [2, 4]   # a 2 s utterance, a 4 s excerpt
    spectrograms = [i for i in report.images if i["src"].endswith(".jpg")]
    assert len(spectrograms) == len(players) and all(i["ok"] for i in spectrograms)


def test_the_checker_reports_exactly_the_broken_parts(tmp_path, browser):
    wav, ogg = audio_uri(0.75, "WAV"), audio_uri(1.25, "OGG")
    page = tmp_path / "broken.html"
    page.write_text(f"""<!doctype html><html><body><h1>a page with broken parts</h1>
        <img src="data:image/png;base64,garbage">
        <audio controls src="{wav}"></audio>
        <audio controls preload="none"><source src="{ogg}" type="audio/ogg"></audio>
        <audio controls src="data:audio/wav;base64,UklGRgarbage"></audio>
        <img src="{EXTERNAL}">
        </body></html>""")
    report = browser.open(page.as_uri())
    assert report.external == [EXTERNAL]
    assert [i["src"] for i in report.images if not i["ok"]] == ["data:image/png;base64,garbage", EXTERNAL]
    assert [m["src"] for m in report.media if not m["ok"]] == ["data:audio/wav;base64,UklGRgarbage"]
    assert report.media[2]["error"] == 4                         # MEDIA_ERR_SRC_NOT_SUPPORTED
    good = [m for m in report.media if m["ok"]]
    assert [m["duration"] for m in good] == [pytest.approx(0.75, abs=0.02), pytest.approx(1.25, abs=0.05)]
    assert all(EXTERNAL in text for text in report.errors) and not report.exceptions
    assert len(report.problems()) == 1 + len(report.errors) + 2 + 1
    with pytest.raises(AssertionError, match="image not decoded"):
        assert_clean_page(report)


def test_the_checker_reports_console_errors_and_uncaught_exceptions(tmp_path, browser):
    page = tmp_path / "script.html"
    page.write_text("<!doctype html><p>x</p><script>console.warn('only a warning');"
                    "console.error('an error', 2); setTimeout(() => { throw new Error('boom') });</script>")
    report = browser.open(page.as_uri())
    assert report.errors == ["an error 2"] and ("warning", "only a warning") in report.console
    assert len(report.exceptions) == 1 and "boom" in report.exceptions[0]
    assert not report.external and not report.images and not report.media


@pytest.mark.parametrize("page", sorted(REPORTS.glob("*.html")), ids=lambda p: p.name)
def test_committed_report_pages_open_clean(page, browser):
    report = browser.open(page.as_uri(), allowed_origin=(page.parent / page.stem).as_uri())
    assert_clean_page(report)
