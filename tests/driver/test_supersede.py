"""supersede: a results folder holding other hashes under this grid's labels is moved aside."""
import pandas as pd

from benchmark.driver.grid import expand, load_study
from benchmark.driver.supersede import conflicting, move_aside_if_superseded


def _table(folder, pairs):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"cell": h, "label": label, "metric": "pesq_wb"} for h, label in pairs]).to_csv(
        folder / "cells.csv", index=False)


def test_only_a_label_of_this_grid_under_another_hash_is_a_conflict(tmp_path, tiny, capsys):
    cells = expand(load_study("smoke"), tiny)
    out = tmp_path / "smoke"
    _table(out, [(c.hash, c.label) for c in cells] + [("0badcafe", "a cell dropped from the study")])
    assert conflicting(out, cells) == {} and move_aside_if_superseded(out, cells) is None
    assert out.is_dir()
    first = cells[0]
    _table(out, [("00000000" if c is first else c.hash, c.label) for c in cells])
    assert conflicting(out, cells) == {first.label: ("00000000", first.hash)}
    moved = move_aside_if_superseded(out, cells)
    assert moved.name.startswith("smoke.superseded-") and (moved / "cells.csv").is_file()
    assert not out.exists()
    assert f"[{first.label}] was cell 00000000, is {first.hash} now" in capsys.readouterr().err


def test_no_table_or_an_unreadable_one_is_no_conflict(tmp_path, tiny):
    cells = expand(load_study("smoke"), tiny)
    assert conflicting(tmp_path / "none", cells) == {}
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "cells.csv").write_text("x,y\n1,2\n")
    assert conflicting(tmp_path / "odd", cells) == {}


def test_a_refused_command_moves_nothing(tmp_path, tiny):
    from benchmark.run import main

    cells = expand(load_study("smoke"), tiny)
    out = tmp_path / "results" / "smoke"
    _table(out, [("00000000", c.label) for c in cells])
    assert main(["study=smoke", f"--results={tmp_path / 'results'}", "--storage",
                 f"sqlite:///{tmp_path}/x.db", "--jobs", "2", *tiny]) == 2
    assert (out / "cells.csv").is_file() and not list(out.parent.glob("smoke.superseded-*"))
