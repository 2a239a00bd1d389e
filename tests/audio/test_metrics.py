import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.audio.metrics import (
    DEFAULT_METRICS,
    MAX_RATIO_DB,
    METRICS,
    score_many,
    score_utterance,
    si_components,
    summarise,
)

SR = 16_000


def voiced(seconds: float, f0: float = 120.0, seed: int = 0) -> np.ndarray:
    """Speech-like test signal: a harmonic tone with a gliding pitch, cut into syllables by an
    envelope at about 4 Hz, with pauses, so PESQ's voice-activity detector and STOI's frame
    selection both see speech and silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 40))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.1 * tone * envelope).astype(np.float32)


def noise_at(clean: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(len(clean))
    return (n * np.linalg.norm(clean) / np.linalg.norm(n) / 10 ** (snr_db / 20)).astype(np.float32)


@pytest.fixture(scope="module")
def clean():
    return voiced(3.0)


def test_registry_names_are_exact():
    assert list(METRICS) == ["pesq_wb", "pesq_nb", "estoi", "stoi", "si_sdr", "si_sir", "si_sar"]
    assert set(DEFAULT_METRICS) == set(METRICS)


def test_identical_signals_score_the_maximum(clean):
    s = score_utterance(clean, clean, clean + noise_at(clean, 5))
    assert s["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    assert s["pesq_nb"] == pytest.approx(4.55, abs=0.01)
    assert s["estoi"] == pytest.approx(1.0, abs=1e-6)
    assert s["stoi"] == pytest.approx(1.0, abs=1e-6)
    assert s["si_sdr"] >= 90


@pytest.fixture(scope="module")
def forty_voices():
    return [voiced(3.0, f0=90 + seed, seed=seed) for seed in range(40)]


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_white_noise_si_sdr_equals_the_snr(forty_voices, snr):
    # One utterance's chance correlation between speech and noise moves SI-SDR by about 0.1 dB
    # at -5 dB, so the check averages over 40 utterances.
    values = np.array([score_utterance(s, s + noise_at(s, snr, seed=1000 + i),
                                       metrics=["si_sdr"])["si_sdr"]
                       for i, s in enumerate(forty_voices)])
    assert values.mean() == pytest.approx(snr, abs=0.1)
    assert np.abs(values - snr).max() < 0.5


def test_quality_falls_with_the_snr(clean):
    scores = [score_utterance(clean, clean + noise_at(clean, snr)) for snr in (20, 10, 0)]
    for metric in ("pesq_wb", "pesq_nb", "estoi", "stoi", "si_sdr"):
        values = [s[metric] for s in scores]
        assert values[0] > values[1] > values[2], (metric, values)


def test_a_scaled_copy_scores_the_same(clean):
    noisy = clean + noise_at(clean, 5)
    estimate = clean + 0.4 * noise_at(clean, 5, seed=7)
    base = score_utterance(clean, estimate, noisy)
    for gain in (0.25, 3.0):
        scaled = score_utterance(clean, gain * estimate, noisy)
        for metric in ("si_sdr", "si_sir", "si_sar", "estoi", "stoi"):
            assert scaled[metric] == pytest.approx(base[metric], abs=1e-4), metric
        # PESQ aligns levels itself, up to its float32 arithmetic
        assert scaled["pesq_wb"] == pytest.approx(base["pesq_wb"], abs=0.02)


def test_sir_and_sar_follow_a_built_decomposition(clean):
    """Estimate = a·s + b·n + c·r with r orthogonal to s and n: the ratios are known exactly."""
    s = clean.astype(np.float64)
    n = noise_at(clean, 0).astype(np.float64)
    n -= (n @ s) / (s @ s) * s  # orthogonal noise, so the two projections do not interact
    r = np.random.default_rng(3).standard_normal(len(s))
    for v in (s, n):
        r -= (r @ v) / (v @ v) * v
    a, b, c = 0.8, 0.3, 0.05
    estimate = a * s + b * n + c * r
    got = score_utterance(s, estimate, s + n, metrics=["si_sdr", "si_sir", "si_sar"])
    energy = lambda x: float(x @ x)  # noqa: E731
    assert got["si_sir"] == pytest.approx(10 * math.log10(energy(a * s) / energy(b * n)), abs=1e-6)
    assert got["si_sar"] == pytest.approx(10 * math.log10(energy(a * s) / energy(c * r)), abs=1e-6)
    assert got["si_sdr"] == pytest.approx(
        10 * math.log10(energy(a * s) / energy(b * n + c * r)), abs=1e-6)
    parts = si_components(s, estimate, s + n)
    np.testing.assert_allclose(sum(parts), estimate, atol=1e-9)


def test_exact_copy_is_capped_not_infinite(clean):
    assert score_utterance(clean, clean, metrics=["si_sdr"])["si_sdr"] == MAX_RATIO_DB


def test_silent_or_short_audio_gives_nan_not_an_exception(clean):
    noisy = clean + noise_at(clean, 5)
    silent = np.zeros_like(clean)
    # no speech in the reference: PESQ raises NoUtterancesError, so nothing is defined
    assert all(math.isnan(v) for v in score_utterance(silent, noisy, noisy).values())
    # a silent estimate: pesq raises a plain ValueError; SI-SDR has no target energy
    out = score_utterance(clean, silent, noisy)
    assert math.isnan(out["pesq_wb"]) and math.isnan(out["pesq_nb"]) and math.isnan(out["si_sdr"])
    assert abs(out["estoi"]) < 0.05  # a real (bad) score: silence carries no intelligibility
    # 0.2 s: below PESQ's 0.25 s and STOI's 30 frames
    short = score_utterance(clean[:3200], noisy[:3200], noisy[:3200])
    assert all(math.isnan(short[m]) for m in ("pesq_wb", "pesq_nb", "estoi", "stoi"))
    assert math.isfinite(short["si_sdr"])
    # a diverged sampler's NaNs
    broken = noisy.copy()
    broken[100] = np.nan
    assert all(math.isnan(v) for v in score_utterance(clean, broken, noisy).values())


def test_caller_mistakes_raise_clear_errors(clean):
    with pytest.raises(ValueError, match="unknown metric"):
        score_utterance(clean, clean, metrics=["pesq"])
    with pytest.raises(ValueError, match="noisy mixture"):
        score_utterance(clean, clean, metrics=["si_sir"])
    with pytest.raises(ValueError, match="utt7: clean has 48000 samples but estimate has 47999"):
        score_utterance(clean, clean[:-1], name="utt7")
    # without a mixture the default set leaves out what needs one
    assert set(score_utterance(clean, clean)) == set(METRICS) - {"si_sir", "si_sar"}


def make_items(count: int, seconds: float = 1.5):
    items = []
    for i in range(count):
        s = voiced(seconds, f0=100 + 15 * i, seed=i)
        n = noise_at(s, 5 + i, seed=100 + i)
        items.append({"name": f"u{i}", "clean": s, "noisy": s + n, "enhanced": s + 0.3 * n})
    return items


def test_score_many_builds_a_tidy_table_of_input_and_output():
    items = make_items(3)
    table = score_many(items, jobs=1)
    assert list(table.columns) == ["name", "metric", "input", "output", "delta", "floored"]
    assert len(table) == 3 * len(METRICS) and not table["floored"].any()
    np.testing.assert_allclose(table["delta"], table["output"] - table["input"])
    first = table[table["name"] == "u0"].set_index("metric")
    it = items[0]
    want_in = score_utterance(it["clean"], it["noisy"], it["noisy"])
    want_out = score_utterance(it["clean"], it["enhanced"], it["noisy"])
    for metric in METRICS:
        assert first.loc[metric, "input"] == pytest.approx(want_in[metric])
        assert first.loc[metric, "output"] == pytest.approx(want_out[metric])
    # less noise in the output: it must beat the input on SNR-like metrics
    assert (table[table["metric"] == "si_sdr"]["delta"] > 5).all()


def test_parallel_scoring_matches_serial():
    items = make_items(5, seconds=1.0)
    serial = score_many(items, jobs=1, metrics=["pesq_wb", "estoi", "si_sdr"])
    parallel = score_many(items, jobs=2, metrics=["pesq_wb", "estoi", "si_sdr"])
    pd.testing.assert_frame_equal(serial, parallel, rtol=1e-9)


def test_score_many_without_noisy_and_with_bad_items():
    items = make_items(2, seconds=1.0)
    for it in items:
        it["noisy"] = None
    table = score_many(items, jobs=1)
    assert set(table["metric"]) == set(METRICS) - {"si_sir", "si_sar"}
    assert table["input"].isna().all() and table["output"].notna().all()
    with pytest.raises(ValueError, match="u0: .*noisy mixture"):
        score_many(items, jobs=1, metrics=["si_sar"])
    items[1]["enhanced"] = items[1]["enhanced"][:-5]
    with pytest.raises(ValueError, match="u1: clean has 16000 samples but enhanced has 15995"):
        score_many(items, jobs=1)


def test_summarise_gives_mean_student_t_interval_and_nan_count():
    rng = np.random.default_rng(0)
    out = rng.normal(3.0, 0.5, 12)
    inp = rng.normal(2.0, 0.5, 12)
    inp[4] = np.nan
    table = pd.DataFrame({"name": [f"u{i}" for i in range(12)], "metric": "pesq_wb",
                          "input": inp, "output": out, "delta": out - inp})
    summary = summarise(table).set_index("which")
    lo, hi = stats.t.interval(0.95, 11, loc=out.mean(), scale=stats.sem(out))
    assert summary.loc["output", "mean"] == pytest.approx(out.mean())
    assert summary.loc["output", "ci95"] == pytest.approx((hi - lo) / 2)
    assert (summary.loc["input", "n"], summary.loc["input", "n_nan"]) == (11, 1)
    assert (summary.loc["delta", "n"], summary.loc["delta", "n_nan"]) == (11, 1)
    assert summary.loc["input", "mean"] == pytest.approx(np.nanmean(inp))
    one = summarise(table.iloc[:1])
    assert one["ci95"].isna().all()  # no interval from a single utterance


def test_summarise_keeps_grouping_columns():
    table = pd.DataFrame({"cell": ["a", "a", "b", "b"], "name": ["u0", "u1"] * 2,
                          "metric": "estoi", "input": [0.5, 0.6, 0.5, 0.6],
                          "output": [0.7, 0.8, 0.4, 0.5]})
    table["delta"] = table["output"] - table["input"]
    summary = summarise(table, by=["cell"])
    assert list(summary.columns) == ["cell", "metric", "which", "mean", "ci95", "n", "n_nan", "n_floored"]
    assert (summary["n_floored"] == 0).all()             # a table scored before `floored` existed
    delta = summary[summary["which"] == "delta"].set_index("cell")["mean"]
    assert delta["a"] == pytest.approx(0.2) and delta["b"] == pytest.approx(-0.1)


# ---------------------------------------------------------------------------------------------
# An output a metric cannot score, while the reference defines it, is scored at the worst value.

def test_a_silent_output_is_scored_at_the_worst_value_not_dropped_from_the_mean():
    items = make_items(3)
    items[1]["enhanced"] = np.zeros_like(items[1]["clean"])
    table = score_many(items, jobs=1)
    pesq = table[table["metric"] == "pesq_wb"].set_index("name")
    assert pesq.loc["u1", "output"] == 1.0 and pesq.loc["u1", "floored"]
    assert not pesq.loc[["u0", "u2"], "floored"].any()
    assert pesq.loc["u1", "delta"] == pytest.approx(1.0 - pesq.loc["u1", "input"])
    sdr = table[(table["metric"] == "si_sdr") & (table["name"] == "u1")].iloc[0]
    assert sdr["output"] == -MAX_RATIO_DB and sdr["floored"]
    # ESTOI of silence is a real (bad) score, not an undefined one
    estoi = table[(table["metric"] == "estoi") & (table["name"] == "u1")].iloc[0]
    assert math.isfinite(estoi["output"]) and not estoi["floored"]
    summary = summarise(table).set_index(["metric", "which"])
    two_file_mean = pesq.loc[["u0", "u2"], "output"].mean()
    assert summary.loc[("pesq_wb", "output"), "mean"] < two_file_mean
    assert summary.loc[("pesq_wb", "output"), ["n", "n_nan", "n_floored"]].tolist() == [3, 0, 1]
    assert summary.loc[("pesq_wb", "delta"), "n_floored"] == 1
    assert summary.loc[("pesq_wb", "input"), "n_floored"] == 0
    assert summary.loc[("estoi", "output"), "n_floored"] == 0


def test_a_nan_estimate_is_floored_on_every_metric():
    items = make_items(2, seconds=1.0)
    items[0]["enhanced"] = items[0]["enhanced"].copy()
    items[0]["enhanced"][500] = np.nan
    table = score_many(items, jobs=1)
    broken = table[table["name"] == "u0"].set_index("metric")
    assert broken["floored"].all()
    # the floor of each scale: PESQ's MOS 1, STOI's correlation 0, the ratios' −100 dB cap
    assert broken["output"].to_dict() == {"pesq_wb": 1.0, "pesq_nb": 1.0, "estoi": 0.0, "stoi": 0.0,
                                          "si_sdr": -100.0, "si_sir": -100.0, "si_sar": -100.0}
    assert not table[table["name"] == "u1"]["floored"].any()
    pd.testing.assert_frame_equal(table, score_many(items, jobs=2))      # the workers agree


def test_where_the_reference_does_not_define_a_metric_the_output_stays_nan():
    items = make_items(2, seconds=1.0)
    # a silent clean reference: the data's fault, NaN for input and output alike
    items[0]["clean"] = np.zeros_like(items[0]["clean"])
    items[0]["enhanced"] = np.zeros_like(items[0]["clean"])
    # 0.2 s: too short for PESQ and STOI on the input as well
    short = make_items(1, seconds=0.2)[0] | {"name": "short"}
    short["enhanced"] = np.zeros_like(short["clean"])
    table = score_many(items + [short], jobs=1, metrics=["pesq_wb", "estoi", "si_sdr"])
    silent = table[table["name"] == "u0"]
    assert silent["input"].isna().all() and silent["output"].isna().all()
    assert not silent["floored"].any()
    cut = table[table["name"] == "short"].set_index("metric")
    assert math.isnan(cut.loc["pesq_wb", "output"]) and not cut.loc["pesq_wb", "floored"]
    assert cut.loc["si_sdr", "output"] == -MAX_RATIO_DB and cut.loc["si_sdr", "floored"]
    summary = summarise(table).set_index(["metric", "which"])
    assert summary.loc[("pesq_wb", "output"), ["n", "n_nan", "n_floored"]].tolist() == [1, 2, 0]


def test_without_a_mixture_the_clean_reference_is_the_yardstick():
    items = make_items(2, seconds=1.0)
    for it in items:
        it["noisy"] = None
    items[1]["enhanced"] = np.zeros_like(items[1]["clean"])
    table = score_many(items, jobs=1, metrics=["pesq_wb", "si_sdr"])
    silent = table[table["name"] == "u1"].set_index("metric")
    assert silent.loc["pesq_wb", "output"] == 1.0 and silent["floored"].all()
    assert table["input"].isna().all()
    counts = summarise(table).set_index(["metric", "which"])["n_floored"]
    assert counts[("pesq_wb", "output")] == 1 and counts[("pesq_wb", "delta")] == 0     # no delta


def test_the_report_reads_cells_csv_with_the_floored_count(tmp_path):
    """cells.csv carries summarise's columns (benchmark/driver/cell.py cell_rows); the report must read it."""
    from benchmark.report import build_report
    from benchmark.report.load import load_cells, load_study

    fixtures = Path(__file__).parents[1] / "report" / "fixtures"
    columns = list(summarise(score_many(make_items(1), jobs=1, metrics=["si_sdr"])).columns)
    assert columns[-1] == "n_floored" and columns[:-1] == ["metric", "which", "mean", "ci95", "n", "n_nan"]
    shutil.copytree(fixtures / "results", tmp_path / "results")
    (tmp_path / "studies").mkdir()
    shutil.copy(fixtures / "sde_ablation.yaml", tmp_path / "studies")
    path = tmp_path / "results" / "sde_ablation" / "cells.csv"
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)
    cells.insert(cells.columns.get_loc("n_nan") + 1, "n_floored", "0")
    cells.loc[cells.index[:3], "n_floored"] = "1"
    cells.to_csv(path, index=False)
    study = load_study(tmp_path / "studies" / "sde_ablation.yaml")
    assert load_cells(path, study)["n_floored"].astype(int).sum() == 3
    html = build_report("sde_ablation", tmp_path / "results", tmp_path / "reports", tmp_path / "studies")
    assert html.is_file() and "PESQ-WB" in html.read_text()
