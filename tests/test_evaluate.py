import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.audio.metrics import METRICS
from benchmark.evaluate import EvaluateError, evaluate_folders, main

SR = 16_000


def voiced(seconds: float, f0: float, sr: int = SR) -> np.ndarray:
    """Harmonic tone in syllable-like bursts: enough 'speech' for PESQ and STOI to score."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.6 * t))) / sr
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    return 0.1 * envelope * sum(np.sin(k * phase) / k for k in range(1, 30))


@pytest.fixture
def folders(tmp_path):
    """clean/, noisy/ and enhanced/ with three 1.5 s utterances; enhanced has less noise."""
    rng = np.random.default_rng(0)
    for sub in ("clean", "noisy", "enhanced"):
        (tmp_path / sub).mkdir()
    for i, name in enumerate(["a", "b", "c"]):
        s = voiced(1.5, 100 + 30 * i)
        n = 0.02 * rng.standard_normal(len(s))
        sf.write(tmp_path / "clean" / f"{name}.wav", s, SR)
        sf.write(tmp_path / "noisy" / f"{name}.wav", s + n, SR)
        sf.write(tmp_path / "enhanced" / f"{name}.wav", s + 0.2 * n, SR)
    return tmp_path


def run(folders, *extra, noisy=True):
    args = [f"clean={folders / 'clean'}", f"enhanced={folders / 'enhanced'}", *extra]
    return main(args + ([f"noisy={folders / 'noisy'}"] if noisy else []))


def test_command_writes_tables_and_prints_the_summary(folders, capsys):
    assert run(folders, "jobs=1") == 0
    out_dir = folders / "enhanced_scores"  # the documented default
    table = pd.read_csv(out_dir / "per_utterance.csv")
    summary = pd.read_csv(out_dir / "summary.csv")
    assert list(table.columns) == ["name", "metric", "input", "output", "delta", "floored"]
    assert sorted(table["name"].unique()) == ["a", "b", "c"]
    assert len(table) == 3 * len(METRICS)
    assert list(summary.columns) == ["metric", "which", "mean", "ci95", "n", "n_nan", "n_floored"]
    # less noise in the output than in the input
    si_sdr = table[table["metric"] == "si_sdr"]
    assert (si_sdr["delta"] > 10).all()
    printed = capsys.readouterr().out
    assert "3 utterances" in printed and "pesq_wb" in printed and "si_sar" in printed


def test_clean_copy_as_output_scores_the_known_maximum(folders):
    for name in ("a", "b", "c"):
        (folders / "enhanced" / f"{name}.wav").write_bytes(
            (folders / "clean" / f"{name}.wav").read_bytes())
    table, summary = evaluate_folders(folders / "clean", folders / "enhanced", jobs=1,
                                      metrics=["pesq_wb", "estoi"])
    out = summary[summary["which"] == "output"].set_index("metric")["mean"]
    assert out["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    assert out["estoi"] == pytest.approx(1.0, abs=1e-6)
    assert table["input"].isna().all()  # no noisy folder: no input scores


def test_metric_subset_and_output_folder(folders, tmp_path):
    assert run(folders, "metrics=[pesq_wb,si_sdr]", f"output={tmp_path / 'out'}") == 0
    table = pd.read_csv(tmp_path / "out" / "per_utterance.csv")
    assert list(table["metric"].unique()) == ["pesq_wb", "si_sdr"]


def error_of(folders, capsys, *extra, noisy=True) -> str:
    assert run(folders, *extra, noisy=noisy) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err  # one line, no traceback
    return err


def test_missing_and_extra_files_are_named(folders, capsys):
    (folders / "enhanced" / "b.wav").unlink()
    assert "clean/b.wav" in error_of(folders, capsys)
    sf.write(folders / "enhanced" / "b.wav", voiced(1.5, 130), SR)
    sf.write(folders / "enhanced" / "zz.wav", voiced(1.5, 130), SR)
    err = error_of(folders, capsys)
    assert "enhanced/zz.wav" in err and "no counterpart" in err


def test_wrong_rate_length_and_unreadable_files_are_named(folders, capsys):
    target = folders / "enhanced" / "a.wav"
    sf.write(target, voiced(1.5, 100), 22_050)
    err = error_of(folders, capsys)
    assert "enhanced/a.wav" in err and "22050 Hz" in err
    sf.write(target, voiced(1.4, 100), SR)
    err = error_of(folders, capsys)
    assert "enhanced/a.wav" in err and "lengths must match" in err
    target.write_bytes(b"RIFF not really a wave file")
    err = error_of(folders, capsys)
    assert "enhanced/a.wav" in err and "cannot read" in err


def test_references_at_another_rate_are_resampled(folders, capsys):
    # a 48 kHz clean corpus (like VoiceBank-DEMAND) against 16 kHz outputs
    for name, f0 in (("a", 100), ("b", 130), ("c", 160)):
        sf.write(folders / "clean" / f"{name}.wav", voiced(1.5, f0, 48_000), 48_000)
    table, _ = evaluate_folders(folders / "clean", folders / "enhanced", jobs=1,
                                metrics=["si_sdr"])
    assert len(table) == 3
    assert "resampled to 16000 Hz" in capsys.readouterr().err


def test_bad_arguments_are_refused(folders, capsys):
    assert "unknown argument" in error_of(folders, capsys, "jbos=2")
    assert "unknown metric" in error_of(folders, capsys, "metrics=[pesq]")
    assert "noisy mixture" in error_of(folders, capsys, "metrics=[si_sir]", noisy=False)
    assert main([f"clean={folders / 'clean'}", f"enhanced={folders / 'nope'}"]) == 2
    assert "nope: enhanced folder not found" in capsys.readouterr().err
    with pytest.raises(EvaluateError, match="clean folder not found"):
        evaluate_folders(folders / "missing", folders / "enhanced")


def test_module_entry_point_exits_non_zero_with_one_line(folders):
    (folders / "enhanced" / "c.wav").unlink()
    done = subprocess.run([sys.executable, "-m", "benchmark.evaluate",
                           f"clean={folders / 'clean'}", f"enhanced={folders / 'enhanced'}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "clean/c.wav" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_silent_output_is_scored_at_the_worst_value_and_counted(folders, capsys):
    sf.write(folders / "enhanced" / "b.wav", np.zeros(int(1.5 * SR)), SR)
    assert run(folders, "jobs=1", "metrics=[pesq_wb,estoi]") == 0
    table = pd.read_csv(folders / "enhanced_scores" / "per_utterance.csv")
    pesq = table[table["metric"] == "pesq_wb"].set_index("name")
    assert pesq.loc["b", "output"] == 1.0 and pesq["floored"].tolist() == [False, True, False]
    summary = pd.read_csv(folders / "enhanced_scores" / "summary.csv")
    out = summary[summary["which"] == "output"].set_index("metric")
    # dropping b would have let silence raise the mean above the two scored files' mean
    assert out.loc["pesq_wb", "mean"] < pesq.loc[["a", "c"], "output"].mean()
    assert out.loc["pesq_wb", ["n", "n_nan", "n_floored"]].tolist() == [3, 0, 1]
    assert out.loc["estoi", "n_floored"] == 0                 # silence has a (bad) ESTOI
    captured = capsys.readouterr()
    assert ("note: pesq_wb could not be computed for 1 of 3 output files (silent or non-finite "
            "output) although the noisy input defines it; they are scored at the worst value (1) "
            "and kept in the mean") in captured.err
    assert "floored" in captured.out


def test_a_truncated_clean_file_is_named_as_truncated(folders, capsys):
    target = folders / "clean" / "b.wav"
    target.write_bytes(target.read_bytes()[:-3000])
    err = error_of(folders, capsys)
    assert "clean/b.wav: truncated file (the header declares" in err and "lengths" not in err


def test_jobs_must_be_a_positive_integer_not_a_bool(folders, capsys):
    assert "jobs=True: expected a positive integer" in error_of(folders, capsys, "jobs=true")
