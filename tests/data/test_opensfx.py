"""OpenTTD's sample catalogue, read from a small one written here in its format."""
import io
import struct

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import opensfx


def _wav(seconds: float, rate: int = 44100, seed: int = 0) -> bytes:
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * rate))
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _catalogue(path, items):
    """items: (title, wav bytes); OpenTTD's layout: (offset | 2^31, size) table, then entries."""
    bodies = [bytes([len(t) + 1]) + t.encode("latin-1") + b"\0" + w for t, w in items]
    table, offset = b"", 8 * len(items)
    for body in bodies:
        table += struct.pack("<II", offset | 0x80000000, len(body))
        offset += len(body)
    path.write_bytes(table + b"".join(bodies))
    return path


def test_only_recordings_of_a_second_or_more_are_kept(tmp_path):
    cat = _catalogue(tmp_path / "opensfx.cat", [
        ('"Wind". Original "wind1.wav" by "Anton". License: CC-BY 3.0.', _wav(2.0, seed=1)),
        ('"Beep". By an editor. License: CC-BY 3.0.', _wav(2.0)),                  # composed
        ('"Toyland: Bus". Original "boing.aif" by "x". License: CC0.', _wav(2.0)),  # cartoon
        ('"Cow". Original "moan.wav" by "y". License: CC0.', _wav(0.5)),           # too short
        ('"Unused/Nothing". Original "none". License: CC0.', b""),                 # empty
        ('"Jackhammer". Original "air hammer.wav" by "z". License: CC-BY 3.0.', _wav(1.5, 22050, 2)),
    ])
    paths = opensfx.recordings(cat)
    assert [p.name for p in paths] == ["00_wind.wav", "05_jackhammer.wav"]
    assert opensfx.title(paths[1]).startswith('"Jackhammer"')
    x, rate = opensfx.read(paths[1])
    expected, _ = sf.read(io.BytesIO(_wav(1.5, 22050, 2)), dtype="float64")
    assert rate == 22050 and np.array_equal(x, expected)


def test_a_file_that_is_not_a_catalogue_is_named_in_the_error(tmp_path):
    bad = tmp_path / "broken.cat"
    bad.write_bytes(struct.pack("<I", 0x80000000 | 800) + b"\0" * 8)
    with pytest.raises(ValueError, match="broken.cat: not an OpenTTD sample catalogue"):
        opensfx.entries(bad)


def test_without_the_package_there_are_no_recordings(tmp_path):
    assert opensfx.recordings(tmp_path / "absent.cat") == []
