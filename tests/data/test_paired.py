"""Bad input: every case fails with an AudioError that names the file, or warns naming it."""
import numpy as np
import pytest
import soundfile as sf

from benchmark.audio.io import AudioError
from benchmark.data import load_split

SR = 16000


def _tone(n, amp=0.3):
    return (amp * np.sin(2 * np.pi * 300 * np.arange(n) / SR)).astype(np.float32)


def _tree(root, n=3, length=8000):
    for split in ("train", "valid", "test"):
        for kind in ("clean", "noisy"):
            (root / split / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            sf.write(root / split / "clean" / f"u{i}.wav", _tone(length + 160 * i), SR)
            sf.write(root / split / "noisy" / f"u{i}.wav", _tone(length + 160 * i, 0.5), SR)
    return {"name": "folder", "root": str(root)}


def test_good_folder_loads(tmp_path):
    ds = load_split(_tree(tmp_path), "train")
    assert ds.names == ["u0", "u1", "u2"] and ds.lengths == [8000, 8160, 8320]
    item = ds[1]
    assert item["name"] == "u1" and item["clean"].dtype == np.float32
    assert item["clean"].size == item["noisy"].size == 8160


def test_unreadable_file(tmp_path):
    cfg = _tree(tmp_path)
    bad = tmp_path / "train" / "noisy" / "u1.wav"
    bad.write_bytes(b"not audio at all" * 20)
    with pytest.raises(AudioError, match=rf"{bad}: cannot read audio"):
        load_split(cfg, "train")


def test_truncated_file(tmp_path):
    cfg = _tree(tmp_path)
    bad = tmp_path / "train" / "clean" / "u2.wav"
    bad.write_bytes(bad.read_bytes()[:3000])
    with pytest.raises(AudioError, match=rf"{bad}: truncated file"):
        load_split(cfg, "train")


def test_missing_partner(tmp_path):
    cfg = _tree(tmp_path)
    (tmp_path / "valid" / "noisy" / "u0.wav").unlink()
    with pytest.raises(AudioError, match=r"valid/clean/u0.wav: no partner .*valid/noisy/u0.wav"):
        load_split(cfg, "valid")


def test_different_lengths_in_a_pair(tmp_path):
    cfg = _tree(tmp_path)
    bad = tmp_path / "test" / "noisy" / "u0.wav"
    sf.write(bad, _tone(7000), SR)
    with pytest.raises(AudioError, match=rf"{bad}: 7000 samples but its clean partner .* 8000"):
        load_split(cfg, "test")


def test_nan_samples_fail_on_read(tmp_path):
    cfg = _tree(tmp_path)
    bad = tmp_path / "train" / "noisy" / "u0.wav"
    x = _tone(8000)
    x[100] = np.nan
    sf.write(bad, x, SR, subtype="FLOAT")
    ds = load_split(cfg, "train")
    with pytest.raises(AudioError, match=rf"{bad}: contains NaN or Inf"):
        ds[0]


def test_empty_or_silent_clean_speech(tmp_path):
    cfg = _tree(tmp_path)
    silent = tmp_path / "train" / "clean" / "u1.wav"
    sf.write(silent, np.zeros(8160, np.float32), SR)
    ds = load_split(cfg, "train")
    ds[0]
    with pytest.raises(AudioError, match=rf"{silent}: the signal is silent"):
        ds[1]
    for kind in ("clean", "noisy"):
        sf.write(tmp_path / "valid" / kind / "u0.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(AudioError, match=r"valid/clean/u0.wav: the file holds no samples"):
        load_split(cfg, "valid")


def test_stereo_and_other_rates_warn_naming_the_file(tmp_path):
    cfg = _tree(tmp_path, n=1)
    stereo = tmp_path / "train" / "noisy" / "u0.wav"
    left, right = _tone(8000, 0.2), _tone(8000, 0.6)
    sf.write(stereo, np.stack([left, right], axis=1), SR)
    for kind in ("clean", "noisy"):
        sf.write(tmp_path / "test" / kind / "u0.wav", _tone(4000), 8000)
    with pytest.warns(UserWarning, match=rf"{stereo}: 2 channels, averaged to mono"):
        ds = load_split(cfg, "train")
    np.testing.assert_allclose(ds[0]["noisy"], (left + right) / 2, atol=1e-4)
    with pytest.warns(UserWarning) as caught:
        ds = load_split(cfg, "test")
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    for kind, message in zip(("clean", "noisy"), messages):
        assert message.startswith(f"{tmp_path / 'test' / kind / 'u0.wav'}: sample rate 8000 Hz, "
                                  "resampled to 16000 Hz")
    assert ds.lengths == [8000] and ds[0]["clean"].size == 8000


def test_folder_config_errors(tmp_path):
    with pytest.raises(ValueError, match="data.root=DIR"):
        load_split({"name": "folder"}, "train")
    with pytest.raises(ValueError, match="not 'test_mismatched'"):
        load_split(_tree(tmp_path), "test_mismatched")
    with pytest.raises(AudioError, match="folder not found"):
        load_split({"name": "folder", "root": str(tmp_path / "train")}, "train")


def test_a_file_truncated_after_the_dataset_was_made_is_refused_on_reading(tmp_path):
    cfg = _tree(tmp_path)
    ds = load_split(cfg, "train")
    bad = tmp_path / "train" / "noisy" / "u1.wav"
    bad.write_bytes(bad.read_bytes()[:-2000])
    with pytest.raises(AudioError, match=rf"{bad}: truncated file \(the header declares \d+ bytes"):
        ds[1]
