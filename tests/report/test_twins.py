import pandas as pd

from benchmark.report import build_report
from benchmark.report.twins import twins

AVX2, BF16 = "cpu (2 cores, x86_64, AVX2)", "cpu (2 cores, x86_64, AVX512 with native bf16)"


def _table(*cells):
    """cells.csv-shaped rows, two per cell: (cell, training hash, device, weights or None)."""
    rows = [dict(cell=c, training_hash=h, kind="diffusion", device=d, weights=w, metric=m)
            for c, h, d, w in cells for m in ("pesq_wb", "estoi")]
    return pd.DataFrame(rows)


def test_one_set_of_weights_per_model_is_no_twin():
    assert twins(_table(("a", "m1", BF16, "w1"), ("b", "m1", BF16, "w1"), ("c", "m2", AVX2, "w2"))) == []
    # rows written before the digest: one device, so one training
    assert twins(_table(("a", "m1", AVX2, None), ("b", "m1", AVX2, None))) == []
    # an old row on the device whose newer rows record the digest: the same repeatable training
    assert twins(_table(("a", "m1", AVX2, None), ("b", "m1", AVX2, "w1"))) == []


def test_a_model_retrained_on_another_kind_of_host_is_named_with_its_cells():
    found = twins(_table(("a", "m1", AVX2, None), ("b", "m1", AVX2, None), ("c", "m1", BF16, "w9"),
                         ("d", "m2", BF16, "w2")))
    assert found == [{"training_hash": "m1", "groups": [
        {"weights": f"not recorded (scored on {AVX2})", "cells": ["a", "b"]},
        {"weights": "w9", "cells": ["c"]}]}]
    # two digests on one device (another torch, say) are twins too
    assert [t["training_hash"] for t in twins(_table(("a", "m1", BF16, "w1"), ("b", "m1", BF16, "w2")))] == ["m1"]


def test_the_report_names_twins_and_lists_each_cells_weights(dirs):
    table = dirs.table()
    diffusion = table[table["kind"] == "diffusion"]
    [model] = diffusion["training_hash"].unique()[:1]
    cells = sorted(diffusion.loc[diffusion["training_hash"] == model, "cell"].unique())
    assert len(cells) >= 2
    table["weights"] = "0123456789ab"
    table.loc[table["cell"] == cells[0], "weights"] = "ba9876543210"
    dirs.save(table)
    html = build_report(*dirs.args()).read_text()
    assert f'Model <span class="hash">{model}</span> was trained more than once' in html
    assert "ba9876543210: " + cells[0] in html and "perf/retrained_twin.py" in html
    assert '<td class="hash">ba9876543210</td>' in html

    table["weights"] = "0123456789ab"
    dirs.save(table)
    html = build_report(*dirs.args()).read_text()
    assert "was trained more than once" not in html and '<td class="hash">0123456789ab</td>' in html
