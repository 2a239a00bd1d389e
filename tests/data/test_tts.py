import tempfile

import numpy as np
import pytest

from benchmark.data import tts

TEXT = "The quick brown fox jumps over the lazy dog."


def test_a_session_is_reproducible_whatever_ran_before():
    with tts.Session() as e:
        first = e.synth(TEXT, "en-us+f3", 150, 40, 50)
        again = e.synth(TEXT, "en-us+f3", 150, 40, 50)
    # inside one session espeak-ng drifts (its flutter and glottal phases carry over) ...
    assert not np.array_equal(first, again)
    with tts.Session() as e:
        e.synth("Something else first.", "de+m1", 180, 20, 80)
    with tts.Session() as e:
        fresh = e.synth(TEXT, "en-us+f3", 150, 40, 50)
    # ... but every session starts from the same state
    assert np.array_equal(first, fresh)


def test_output_is_speech_at_the_native_rate():
    with tts.Session() as e:
        x = e.synth(TEXT, "en-gb-scotland+m3", 160, 50, 50)
    seconds = x.size / tts.NATIVE_RATE
    assert 1.5 < seconds < 5.0
    assert x.dtype == np.float32 and 0.05 < np.abs(x).max() < 1.0


def test_voice_rate_changes_duration():
    with tts.Session() as e:
        slow = e.synth(TEXT, "en-us+m1", 120, 50, 50)
        fast = e.synth(TEXT, "en-us+m1", 200, 50, 50)
    assert slow.size > 1.3 * fast.size


def test_unknown_voice_is_a_clear_error():
    with tts.Session() as e, pytest.raises(tts.TTSError, match="no voice"):
        e.synth(TEXT, "xx-nowhere+m1", 160, 50, 50)


def test_variants_are_listed():
    names = tts.variants()
    assert {"m1", "f3", "klatt"} <= set(names) and names == sorted(names)


@pytest.mark.parametrize("memfd", [True, False])
def test_a_session_leaves_no_copy_of_the_library_behind(tmp_path, monkeypatch, memfd):
    # pool workers and killed runs never reach atexit: nothing may wait for it to be cleaned up
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if not memfd:                      # the path where the OS has no memfd_create
        monkeypatch.delattr(tts.os, "memfd_create")
    with tts.Session() as e:
        x = e.synth(TEXT, "en-us+f3", 150, 40, 50)
        assert list(tmp_path.iterdir()) == []
    assert x.size > 0 and list(tmp_path.iterdir()) == []
