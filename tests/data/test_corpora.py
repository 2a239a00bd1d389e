"""VoiceBank-DEMAND on a small fake tree with the original folder names, at 48 kHz."""
import warnings

import numpy as np
import pytest
import soundfile as sf

from benchmark.data import load_split

SR48 = 48000


def _sine(n, hz=1000.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / SR48)).astype(np.float32)


@pytest.fixture
def vbdmd(tmp_path):
    files = {"trainset_28spk": ["p226_001", "p226_002", "p230_001", "p287_010", "p239_004"],
             "testset": ["p232_001", "p257_003"]}
    for sub, names in files.items():
        for kind in ("clean", "noisy"):
            folder = tmp_path / f"{kind}_{sub}_wav"
            folder.mkdir()
            for k, name in enumerate(names):
                sf.write(folder / f"{name}.wav", _sine(24000 + 301 * k), SR48)
    return {"name": "vbdmd", "root": str(tmp_path)}


def test_speakers_p226_and_p287_are_validation(vbdmd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # 48 kHz is expected here: no per-file warnings
        train = load_split(vbdmd, "train")
        valid = load_split(vbdmd, "valid")
    assert train.names == ["p230_001", "p239_004"]
    assert valid.names == ["p226_001", "p226_002", "p287_010"]


def test_test_set_and_its_size_check(vbdmd):
    with pytest.warns(UserWarning, match="2 test files, the official .* test set has 824"):
        test = load_split(vbdmd, "test")
    assert test.names == ["p232_001", "p257_003"]


@pytest.mark.parametrize("resampler", ["fft", "poly"])
def test_resampled_to_16k_without_changing_the_signal(vbdmd, resampler):
    ds = load_split({**vbdmd, "resampler": resampler}, "train")
    assert ds.resampler == resampler
    n48 = 24000 + 301 * 2   # p230_001 is the third file written
    assert ds.lengths[0] == ds[0]["clean"].size == int(np.ceil(n48 / 3))
    # a 1 kHz sine at 48 kHz is the same 1 kHz sine at 16 kHz, away from the edges where the
    # FFT resampler wraps around (p226_001 has 24000 samples: a whole number of output samples;
    # otherwise brever's FFT resampler stretches time by up to one input sample)
    x = load_split({**vbdmd, "resampler": resampler}, "valid")[0]["clean"]
    ref = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(x.size) / 16000)
    mid = slice(x.size // 4, -x.size // 4)
    assert x.size == 8000 and np.abs(x[mid] - ref[mid]).max() < 5e-3


def test_missing_folder_and_unknown_resampler(vbdmd, tmp_path):
    with pytest.raises(Exception, match="clean_trainset_56spk_wav: folder not found"):
        load_split({**vbdmd, "trainset": "trainset_56spk"}, "train")
    with pytest.raises(ValueError, match="unknown resampler 'sinc'"):
        load_split({**vbdmd, "resampler": "sinc"}, "train")
