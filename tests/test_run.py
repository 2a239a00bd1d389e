"""meta.json bookkeeping of benchmark.run: an invocation's wall-clock is on disk while it runs."""
import json
import time

import pytest

from benchmark.driver.invocations import Stamper, past_runs, stamp


def test_stamper_keeps_the_running_invocation_on_record(tmp_path):
    path = tmp_path / "meta.json"
    meta = {"invocation": "b",
            "runs": [{"id": "a", "minutes": 2.5, "finished_at": "earlier"}, {"id": "b", "started_at": "now"}]}
    began = time.monotonic() - 90                      # this invocation has run for 1.5 min
    stamper = Stamper(meta, path, began, every=0.05)
    stamper.start()
    deadline = time.time() + 10
    while time.time() < deadline and not path.exists():
        time.sleep(0.02)
    stamper.stop.set()
    stamper.join()
    on_disk = json.loads(path.read_text())
    assert on_disk["runs"][1]["minutes"] == 1.5 and "last_seen" in on_disk["runs"][1]
    assert on_disk["wall_minutes"] == 4.0               # earlier invocations still count
    assert not list(tmp_path.glob("*.tmp"))


def test_past_runs_reads_back_what_stamp_wrote_and_ignores_junk(tmp_path):
    path = tmp_path / "meta.json"
    meta = {"invocation": "a", "runs": [{"id": "a", "started_at": "a"}]}
    stamp(meta, path, time.monotonic(), cells_done=3)
    assert past_runs(path) == [{"id": "a", "started_at": "a", "minutes": 0.0, "cells_done": 3}]
    path.write_text("{not json")
    assert past_runs(path) == []


def test_two_invocations_stamping_one_file_keep_both_records(tmp_path):
    """Each invocation merges its record into what is on disk: neither overwrites the other's."""
    path = tmp_path / "meta.json"
    first = {"invocation": "h:1", "runs": [{"id": "h:1", "started_at": "t0"}]}
    second = {"invocation": "h:2", "runs": [{"id": "h:2", "started_at": "t0"}]}
    now = time.monotonic()
    stamp(first, path, now - 60)
    stamp(second, path, now - 120)
    stamp(first, path, now - 180, cells_done=2)           # first stamps again, after second wrote
    runs = {r["id"]: r for r in json.loads(path.read_text())["runs"]}
    assert set(runs) == {"h:1", "h:2"} and runs["h:1"]["cells_done"] == 2
    assert json.loads(path.read_text())["wall_minutes"] == runs["h:1"]["minutes"] + runs["h:2"]["minutes"] == 5.0


def test_jobs_and_retries_below_their_floor_are_refused(capsys):
    from benchmark.run import main

    for args in (["--jobs", "0"], ["--jobs", "-3"], ["--jobs", "two"], ["--max-retries", "-1"], ["--grace", "0"],
                 ["--grace", "soon"]):
        with pytest.raises(SystemExit) as e:
            main(["study=smoke", "--dry-run", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert args[0] in err and any(w in err for w in ("at least", "whole number", "more than 0", "seconds"))


def test_models_go_where_models_says(tmp_path, tiny, capsys):
    """--models points every machine at one model folder; without it, <results>/models."""
    from benchmark.driver.grid import expand, load_study
    from benchmark.run import main

    cells = expand(load_study("smoke"), tiny)
    trained = cells[0].training_hash                      # as if another machine had trained it there
    shared = tmp_path / "shared-models"
    (shared / trained).mkdir(parents=True)
    (shared / trained / "done.json").write_text(json.dumps({"steps": 8}))

    def actions(*extra):
        assert main(["study=smoke", "--dry-run", f"--results={tmp_path / 'results'}", *tiny, *extra]) == 0
        lines = [ln.split() for ln in capsys.readouterr().out.splitlines()]
        return {ln[0]: ln[2] for ln in lines if ln and ln[0] in {c.hash for c in cells}}

    other = next(c for c in cells if c.training_hash != trained)   # the first cell of the other model
    here = actions(f"--models={shared}")
    assert {here[c.hash] for c in cells if c.training_hash == trained} == {"reuse"}
    assert here[other.hash] == "train"
    default = actions()                                   # <results>/models holds no model
    assert default[cells[0].hash] == default[other.hash] == "train"
    import torch  # a killed training resumes from its checkpoint
    (tmp_path / "results" / "models" / other.training_hash).mkdir(parents=True)
    torch.save({"step": 3, "model": {}}, tmp_path / "results" / "models" / other.training_hash / "last.pt")
    assert actions()[other.hash] == "resume"
