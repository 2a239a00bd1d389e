"""Enhance recordings with a (briefly trained) model, then score them with the evaluate command."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark import enhance, evaluate
from benchmark.audio.io import write_audio
from benchmark.data import load_split
from benchmark.enhance import enhance_waveform
from benchmark.store import load_for_inference


@pytest.fixture(scope="module")
def model_dir(tiny_model):
    return tiny_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory, model_dir):
    _, cfg = model_dir
    root = tmp_path_factory.mktemp("audio")
    test = load_split(cfg.data, "test")
    for i in range(2):
        item = test[i]
        write_audio(root / "noisy" / f"utt{i}.wav", item["noisy"])
        write_audio(root / "clean" / f"utt{i}.wav", item["clean"])
    return root


def test_enhance_command_then_evaluate_command(model_dir, folders, capsys):
    out, _ = model_dir
    rc = enhance.main([f"model={out}", f"input={folders / 'noisy'}", f"output={folders / 'enhanced'}",
                       "sampler.steps=2", "sampler.churn=0"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "NFE 3" in printed and "RTF" in printed                 # Heun N=2: 2N − 1 evaluations
    for i in range(2):
        x, sr = sf.read(folders / "enhanced" / f"utt{i}.wav")
        ref, _ = sf.read(folders / "noisy" / f"utt{i}.wav")
        assert sr == 16000 and len(x) == len(ref) and np.isfinite(x).all()
    rc = evaluate.main([f"clean={folders / 'clean'}", f"enhanced={folders / 'enhanced'}",
                        f"noisy={folders / 'noisy'}", "jobs=1", "metrics=[pesq_wb,estoi,si_sdr]",
                        f"output={folders / 'scores'}"])
    assert rc == 0
    table = pd.read_csv(folders / "scores" / "per_utterance.csv")
    assert set(table["metric"]) == {"pesq_wb", "estoi", "si_sdr"} and table["name"].nunique() == 2
    assert np.isfinite(table["output"]).all()


def test_sampler_overrides_and_checkpoint_file(model_dir):
    out, _ = model_dir
    loaded = load_for_inference(str(out / "last.pt"), ["sampler=pc", "sampler.steps=3"])
    assert loaded.config.sampler.name == "pc" and loaded.info["step"] == 6


def test_long_input_is_chunked_and_keeps_its_length(model_dir):
    out, _ = model_dir
    loaded = load_for_inference(str(out), ["sampler.steps=1", "sampler.churn=0"])
    from benchmark.config import sampler_from_config
    sampler = sampler_from_config(loaded.config, loaded.model)
    noisy = 0.1 * np.random.default_rng(0).standard_normal(int(2.6 * 16000)).astype(np.float32)
    whole = enhance_waveform(loaded.model, loaded.frontend, noisy, sampler, chunk_seconds=None)
    parts = enhance_waveform(loaded.model, loaded.frontend, noisy, sampler, chunk_seconds=1.0, overlap_seconds=0.25)
    assert len(parts.audio) == len(noisy) == len(whole.audio) and np.isfinite(parts.audio).all()
    assert parts.nfe == 4 * whole.nfe                                # 1 s chunks, 0.75 s hop: 4 chunks


def test_clear_errors(model_dir, tmp_path, capsys):
    out, _ = model_dir
    assert enhance.main([f"model={out}", f"input={tmp_path / 'nope'}", f"output={tmp_path / 'o'}"]) == 2
    assert "nope: no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    write_audio(tmp_path / "in" / "a.wav", np.zeros(800, np.float32))    # the input and output are checked first
    assert enhance.main([f"model={tmp_path / 'empty'}", f"input={tmp_path / 'in'}", f"output={tmp_path / 'o'}"]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert enhance.main([f"model={out}", f"input={tmp_path}"]) == 2
    assert "missing argument(s): output" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    assert enhance.main([f"model={out}", f"input={bad}", f"output={tmp_path / 'o'}"]) == 1
    assert "broken.wav: cannot read audio" in capsys.readouterr().err


def test_an_unreadable_file_is_listed_after_the_others_are_enhanced(model_dir, folders, tmp_path, capsys):
    out, _ = model_dir
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.wav").write_bytes((folders / "noisy" / "utt0.wav").read_bytes())
    (inp / "b.wav").write_bytes(b"\x00\x13 not a wave file \xff" * 50)
    (inp / "c.wav").write_bytes((folders / "noisy" / "utt1.wav").read_bytes())
    rc = enhance.main([f"model={out}", f"input={inp}", f"output={tmp_path / 'o'}",
                       "sampler.steps=1", "sampler.churn=0"])
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.wav", "c.wav"]
    captured = capsys.readouterr()
    assert "enhanced 2 file(s)" in captured.out and "c.wav: " in captured.out
    err = captured.err.strip().splitlines()
    assert err[0] == "error: 1 of 3 file(s) could not be enhanced:"
    assert len(err) == 2 and err[1].strip().startswith(f"{inp / 'b.wav'}: cannot read audio")


@pytest.mark.parametrize("value", ["abc", "0", "-5", ".nan", "inf", "0.5"])
def test_chunk_seconds_must_be_a_number_longer_than_the_overlap(model_dir, folders, tmp_path, capsys, value):
    out, _ = model_dir
    rc = enhance.main([f"model={out}", f"input={folders / 'noisy'}", f"output={tmp_path / 'o'}",
                       f"chunk_seconds={value}"])
    assert rc == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err.strip()
    assert err == (f"error: chunk_seconds={value!r}: expected a number of seconds > 1 "
                   "(each chunk overlaps the next by 1 s)")


def test_jobs_is_refused_not_silently_ignored(model_dir, folders, tmp_path, capsys):
    out, _ = model_dir
    rc = enhance.main([f"model={out}", f"input={folders / 'noisy'}", f"output={tmp_path / 'o'}", "jobs=4"])
    assert rc == 2 and not (tmp_path / "o").exists()
    assert "jobs=4: enhance has no jobs setting" in capsys.readouterr().err


def test_a_chunk_no_longer_than_the_overlap_is_refused(model_dir):
    loaded = load_for_inference(str(model_dir[0]), ["sampler.steps=1"])
    noisy = np.zeros(16000, np.float32)
    with pytest.raises(ValueError, match="chunk_seconds=0.5 must exceed overlap_seconds=1.0"):
        enhance_waveform(loaded.model, loaded.frontend, noisy, None, chunk_seconds=0.5)
