"""Scores by condition: bands, noise types and groups from metadata, means that match a hand
computation, nothing for data without metadata."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmark.driver.condition_scores import condition_rows, noise_type, snr_band, tag


@pytest.mark.parametrize("snr, band", [(-3.2, "< 0 dB"), (0.0, "0–5 dB"), (4.99, "0–5 dB"),
                                       (12.5, "10–15 dB"), (15.0, "≥ 15 dB"), ("", ""), (None, "")])
def test_snr_bands_are_half_open(snr, band):
    assert snr_band(snr) == band


def test_noise_type_is_the_louder_noise_and_recordings_pool_as_real():
    assert noise_type("pink+babble") == "pink" and noise_type("real:birds1+hum") == "real"
    assert noise_type("campfire") == "campfire"


def _table():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        for metric in ("pesq_wb", "si_sdr"):
            inp, out = rng.normal(1.5, 0.3), rng.normal(1.7, 0.3)
            rows.append({"split": "test", "name": f"u{i}", "metric": metric, "input": inp,
                         "output": out, "delta": out - inp, "floored": False})
    meta = [{"name": f"u{i}", "snr_db": [-2, 3, 8, 18][i % 4], "noise": ["pink+hum", "babble"][i % 2],
             "accent": "en-us" if i < 5 else "en-029"} for i in range(8)]
    return pd.DataFrame(rows), meta


def test_condition_means_match_a_hand_computation():
    table, meta = _table()
    tagged = tag(table, meta)
    cell = SimpleNamespace(hash="abc", kind="diffusion", label="x")
    rows = condition_rows("s", cell, tagged)
    got = rows[(rows.condition == "snr") & (rows.value == "0–5 dB") & (rows.metric == "pesq_wb")
               & (rows.which == "delta")]
    hand = table[(table.metric == "pesq_wb") & table.name.isin(["u1", "u5"])]["delta"].mean()
    assert len(got) == 1 and got["n"].iloc[0] == 2 and got["mean"].iloc[0] == pytest.approx(hand)
    groups = rows[(rows.condition == "speaker") & (rows.metric == "si_sdr") & (rows.which == "output")]
    assert dict(zip(groups.value, groups.n)) == {"en-us": 5, "en-029": 3}
    assert set(rows[rows.condition == "noise"].value) == {"pink", "babble"}
    assert set(rows.cell) == {"abc"} and set(rows.study) == {"s"}


def test_data_without_metadata_has_no_condition_rows():
    table, _ = _table()
    assert tag(table, None) is table
    assert condition_rows("s", SimpleNamespace(hash="a", kind="diffusion", label="x"), table).empty


def test_examples_span_the_input_snr_range_and_fall_back_to_even_spacing():
    from benchmark.driver.condition_scores import spanning_examples
    snr = [9.0, -4.0, 18.0, 3.0, 12.0, 0.5, 6.0, 15.0, -1.0, 20.0]
    meta = [{"snr_db": str(s)} for s in snr]
    picks = spanning_examples(meta, 10, 3)
    chosen = sorted(snr[i] for i in picks)
    assert chosen[0] <= 0.5 and 6.0 <= chosen[1] <= 9.0 and chosen[2] >= 15.0
    assert spanning_examples(meta, 10, 3) == picks                  # the same in every cell
    assert spanning_examples(meta[:4], 4, 9) == [0, 1, 2, 3]          # k capped at n
    assert spanning_examples(None, 10, 2) == [2, 7]                   # no SNR: evenly spaced
    assert spanning_examples(meta, 10, 0) == []
