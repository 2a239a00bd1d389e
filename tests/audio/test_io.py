"""read_audio refuses a truncated WAV itself, so every loader (evaluate, enhance, datasets) does."""
import struct

import numpy as np
import pytest
import soundfile as sf

from benchmark.audio.io import AudioError, read_audio

SR = 16_000


def test_a_wav_cut_short_is_refused_naming_the_declared_and_present_bytes(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32), SR, subtype="PCM_16")
    whole = path.read_bytes()
    assert read_audio(path).size == 8000
    path.write_bytes(whole[:-1000])
    declared = 8000 * 2                       # 16-bit mono
    with pytest.raises(AudioError) as err:
        read_audio(path)
    assert str(err.value) == (f"{path}: truncated file (the header declares {declared} bytes of "
                              f"audio, {declared - 1000} are present)")
    # a streamed WAV declares 0xFFFFFFFF (length unknown): nothing to compare against
    streamed = bytearray(whole)
    at = streamed.index(b"data") + 4
    streamed[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(streamed))
    assert read_audio(path).size == 8000
